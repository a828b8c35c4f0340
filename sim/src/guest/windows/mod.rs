//! The Windows dialect: Windows Server with Win32-OpenSSH, whose default shell is cmd.exe, and
//! Windows PowerShell 5.1 behind `powershell -Command "…"`. Scripts are parsed (see
//! [`parse`]) and run by the cmdlets of [`cmdlets`], answering in PowerShell's own shapes
//! (`ConvertTo-Json` documents, `True`/`False`, bare numbers, error records on stderr).
//!
//! Each SSH command runs in a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: when the
//! command's process exits, every process it started (Start-Process) is killed; a process WMI
//! creates (`Invoke-CimMethod Win32_Process Create`) is WmiPrvSE's child and survives.
//! PowerShell/openssh-portable v9.5.0.0 contrib/win32/win32compat/shell-host.c (PR #208:
//! "ensure all its child processes are tied to its lifetime"); PowerShell/Win32-OpenSSH
//! issues #1195 ("By design we associate the job object with the initial process") and #1642.

mod bind;
mod cim;
mod cmd;
mod cmdlets;
mod errors;
mod exec;
mod net;
mod parse;
mod process;
mod session;
mod utility;
mod value;

use super::command::Output;
use super::{lock, GuestRef, Network};
use session::Session;

/// Runs an SSH command line on a Windows guest: cmd.exe runs it, and `powershell … -Command`
/// hands the rest to PowerShell.
pub fn run(guest: &GuestRef, net: &dyn Network, line: &str) -> Output {
    match cmd::powershell_script(line) {
        Some(script) => powershell(guest, net, &script),
        None => cmd::run(guest, line),
    }
}

fn powershell(guest: &GuestRef, net: &dyn Network, script: &str) -> Output {
    let mut session = Session {
        guest,
        net,
        job: Vec::new(),
        script: String::new(),
        stderr: String::new(),
    };
    let out = exec::run(&mut session, script);
    close_job(guest, &session.job);
    out
}

/// The session's command returned: the job object closes and takes its processes along.
fn close_job(guest: &GuestRef, job: &[u32]) {
    let mut g = lock(guest);
    for pid in job {
        g.processes.remove(pid);
        g.connections.retain(|c| c.pid != *pid);
    }
}

#[cfg(test)]
mod tests;
