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
}

fn totals(catalog: &Catalog) -> Totals {
    let mut t = Totals {
        rows: catalog.entries.len(),
        ..Totals::default()
    };
    for e in &catalog.entries {
        match e.coverage {
            Coverage::Automated { .. } => t.automated += 1,
            Coverage::Pending { .. } => t.pending += 1,
            Coverage::Manual { .. } => t.manual += 1,
            Coverage::Missing => t.missing += 1,
        }
    }
    t
}

pub fn main(args: &Args) -> u8 {
    let catalog = load_catalog(&args.root.resolve());
    let totals = totals(&catalog);
    match args.format {
        Format::Md => print!("{}", markdown(&catalog, &totals)),
        Format::Json => {
            let doc = serde_json::json!({ "entries": catalog.entries, "problems": catalog.problems, "totals": totals });
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
        };
        out += &format!(
            "| stps/{} | {} | {} | {} | {} | {} | {} |\n",
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
        let items: Vec<String> = catalog
            .problems
            .iter()
            .filter(|p| pick(p))
            .map(|p| format!("- {p}\n"))
            .collect();
        format!(
            "\n## {title}\n\n{}",
            if items.is_empty() {
                "none\n".into()
            } else {
                items.concat()
            }
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
    out += &format!(
        "\n{} rows: {} automated, {} pending, {} manual, {} missing.\n",
        totals.rows, totals.automated, totals.pending, totals.manual, totals.missing
    );
    out
}
