//! `vstp coverage [--strict] [--format md|json]`

use super::{exit, load_catalog, opt, StpRoot};
use crate::catalog::{Catalog, Coverage, Problem};

#[derive(clap::Args)]
pub struct Args {
    /// Also fail while any row is only pending (declared, not automated).
    #[arg(long)]
    strict: bool,
    #[arg(long, value_enum, default_value_t = Format::Md)]
    format: Format,
    #[command(flatten)]
    root: StpRoot,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Md,
    Json,
}

#[derive(serde::Serialize, Default)]
struct Totals {
    rows: usize,
    automated: usize,
    pending: usize,
    manual: usize,
    missing: usize,
    not_in_catalogue: usize,
    lints: usize,
}

fn totals(catalog: &Catalog) -> Totals {
    let mut t = Totals {
        rows: catalog.entries.len(),
        lints: catalog.lints.len(),
        ..Totals::default()
    };
    for e in &catalog.entries {
        match e.coverage {
            Coverage::Automated { .. } => t.automated += 1,
            Coverage::Pending { .. } => t.pending += 1,
            Coverage::Manual { .. } => t.manual += 1,
            Coverage::Missing => t.missing += 1,
            Coverage::NotInCatalogue => t.not_in_catalogue += 1,
        }
    }
    t
}

pub fn main(args: &Args) -> u8 {
    let root = match args.root.resolve(None) {
        Ok(root) => root,
        Err(code) => return code,
    };
    let catalog = load_catalog(&root);
    let totals = totals(&catalog);
    match args.format {
        Format::Md => print!("{}", markdown(&catalog, &totals)),
        Format::Json => {
            let doc = serde_json::json!({
                "entries": catalog.entries,
                "problems": catalog.problems,
                "lints": catalog.lints,
                "elsewhere": catalog.elsewhere,
                "totals": totals,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    if !catalog.problems.is_empty() {
        return exit::FAILED;
    }
    if let (true, Err(why)) = (args.strict, catalog.strict_verdict()) {
        eprintln!("vstp: {why}");
        return exit::FAILED;
    }
    exit::OK
}

/// A `## title` section listing `items`, or saying none.
fn listed(title: &str, items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.map(|i| format!("- {i}\n")).collect();
    let body = if items.is_empty() {
        "none\n".to_string()
    } else {
        items.concat()
    };
    format!("\n## {title}\n\n{body}")
}

fn markdown(catalog: &Catalog, totals: &Totals) -> String {
    let mut out = String::from("# vstp coverage\n\n| STP | Line | IDs | Tier | Priority | Scenarios | Status |\n|---|---|---|---|---|---|---|\n");
    for e in &catalog.entries {
        let (scenarios, status) = match &e.coverage {
            Coverage::Automated { trials } => (trials.join("<br>"), "automated".to_string()),
            Coverage::Pending { trials, reason } => {
                (trials.join("<br>"), format!("pending: {reason}"))
            }
            Coverage::Manual { reason } => ("-".into(), format!("manual: {reason}")),
            Coverage::Missing => ("-".into(), "**missing**".into()),
            Coverage::NotInCatalogue => ("-".into(), "not in this catalogue".into()),
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            e.stp,
            e.row.line,
            e.row.ids.join(", "),
            opt(e.row.tier, "T"),
            opt(e.row.priority, ""),
            scenarios,
            status
        );
    }
    let section = |title: &str, pick: fn(&Problem) -> bool| {
        listed(
            title,
            catalog
                .problems
                .iter()
                .filter(|p| pick(p))
                .map(ToString::to_string),
        )
    };
    out += &section("Rows without tests", |p| {
        matches!(p, Problem::RowWithoutTest(_))
    });
    out += &section("Tests without rows", |p| {
        matches!(p, Problem::TestWithoutRow(_))
    });
    out += &section("Other problems", |p| {
        matches!(p, Problem::BadDeclaration(_) | Problem::Stp(_))
    });
    out += &listed(
        "Lints (rows read, but they lack something; `--strict` fails on those of automated STPs)",
        catalog.lints.iter().map(|l| {
            let scope = if l.automated_here {
                ""
            } else {
                " (not in this catalogue)"
            };
            format!("{}{scope}", l.message)
        }),
    );
    out += &listed(
        "Scenarios whose STP is not in this tree (not run from it)",
        catalog.elsewhere.iter().cloned(),
    );
    out += &format!(
        "\n{} rows: {} automated, {} pending, {} manual, {} missing, {} not in this catalogue; {} lints.\n",
        totals.rows,
        totals.automated,
        totals.pending,
        totals.manual,
        totals.missing,
        totals.not_in_catalogue,
        totals.lints
    );
    out
}
