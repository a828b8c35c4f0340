fn main() -> std::process::ExitCode {
    vstp::cli::main()
}
