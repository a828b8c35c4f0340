//! The Linux guest's shell: bash's grammar, parsed by `brush-parser` (MIT; the parser of the
//! maintained brush shell; chosen over yash-syntax, which is GPL-3.0, and conch-parser, which
//! has had no release since 2019), and run over the modelled guest: builtins, the image's
//! programs, pipes, `&&`/`||`, `;`, redirections, `$?`, `$!`, background `&`.

mod builtins;
mod coreutils;
mod dd;
mod dnf;
mod endless;
mod exec;
mod expand;
pub mod fs;
mod glob;
mod jobs;
pub mod packages;
pub mod procfs;
mod redirect;
mod state;
mod syntax;
mod test_cmd;
mod timeout;
mod tools;

use crate::guest::command::Output;
use crate::guest::{GuestRef, Network};

/// Runs a command line as `bash -c` would (sshd runs an exec request that way).
pub fn run(guest: &GuestRef, net: &dyn Network, line: &str) -> Output {
    let program = match syntax::parse(line) {
        Ok(program) => program,
        Err(message) => return Output::fail(2, message),
    };
    let mut shell = state::Shell::new(guest, net, exec::HOOKS);
    shell.program(&program);
    shell.finish()
}

#[cfg(test)]
mod tests;
