//! Every STP scenario as a trial named `<sig>/<stp-slug>/<ID>/<scenario-slug>`.
//! `cargo test --test e2e -- CNV-15972` runs one; `-- --list` lists them.

fn main() -> std::process::ExitCode {
    vstp::cli::e2e::main()
}
