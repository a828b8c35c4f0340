//! What one tampered run ended in, in the table's words.

use vstp::runner::Outcome;

/// The outcome's kind and the first line of its message (with the next when the first only
/// introduces a list of what broke).
pub fn summary(outcome: &Outcome) -> (&'static str, String) {
    let (kind, message) = match outcome {
        Outcome::Passed => return ("passed", String::new()),
        Outcome::Failed(m) => ("failed", m),
        Outcome::Error(m) => ("error", m),
        Outcome::Skipped(m) => ("skipped", m),
        Outcome::Environment(m) => ("environment", m),
    };
    let mut lines = message.lines().map(str::trim);
    let first = lines.next().unwrap_or("").to_string();
    let shown = match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first,
    };
    (kind, shown)
}

/// Which invariant or check of the scenario named the breakage: every invariant
/// `assert_preserved` lists, else the check whose words the message carries.
pub fn named_by(outcome: &Outcome) -> String {
    let message = match outcome {
        Outcome::Passed => return String::new(),
        Outcome::Failed(m) | Outcome::Error(m) | Outcome::Skipped(m) | Outcome::Environment(m) => m,
    };
    if message.contains("did not keep what a live operation must keep") {
        let broken: Vec<&str> = message
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .filter_map(|l| l.split(':').next())
            .collect();
        return format!("invariants: {}", broken.join(", "));
    }
    CHECKS
        .iter()
        .find(|(phrase, _)| message.contains(phrase))
        .map_or_else(
            || "(no named check)".to_string(),
            |(_, check)| check.to_string(),
        )
}

/// Phrases of the scenarios' checks and waits, and what each guards.
/// Phrases of the scenarios' checks and waits, and what each guards. An SSH or port-forward
/// failure comes first: it is said plainly, whatever check was running when the guest went.
const CHECKS: &[(&str, &str)] = &[
    (
        "VMI is paused",
        "guest unreachable: port-forward refused, the VMI is paused",
    ),
    (
        "port-forward",
        "guest unreachable: SSH port-forward refused",
    ),
    ("SSH", "guest unreachable: the SSH session broke"),
    ("cannot be reached", "guest unreachable over SSH"),
    ("ran in mode", "migration mode"),
    ("connectivity broken", "connectivity to the VM's network"),
    ("isolation broken", "isolation from the other VLAN"),
    ("the VMI spec names", "VMI spec NAD"),
    (
        "was Paused during the migration",
        "pause cycle of a Paused migration",
    ),
    ("was replaced", "VMI replaced"),
    ("is failed", "VMI failed"),
    ("has been aborted", "the migration failed"),
    ("migration", "the migration"),
    ("is gone", "VMI lost"),
    ("timed out", "a wait's budget"),
];
