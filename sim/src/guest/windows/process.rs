//! Get-Process, Start-Process, Stop-Process (Microsoft.PowerShell.Commands.Management,
//! PowerShell 5.1 ProcessCommands).

use super::bind::{ints, strings, switch, value, Bound, Cmdlet};
use super::errors::PsError;
use super::session::{not_found, obj, Session, Written};
use super::value::V;
use crate::guest::{lock, Guest};

pub const GET: Cmdlet = Cmdlet {
    name: "Get-Process",
    class: "GetProcessCommand",
    params: &[
        value("Name", "System.String[]", Some(0)),
        value("Id", "System.Int32[]", None),
        value("InputObject", "System.Diagnostics.Process[]", None),
        switch("IncludeUserName"),
        switch("Module"),
        switch("FileVersionInfo"),
        value("ComputerName", "System.String[]", None),
    ],
};

pub const START: Cmdlet = Cmdlet {
    name: "Start-Process",
    class: "StartProcessCommand",
    params: &[
        value("FilePath", "System.String", Some(0)),
        value("ArgumentList", "System.String[]", Some(1)),
        switch("PassThru"),
        switch("NoNewWindow"),
        value("WindowStyle", "System.Diagnostics.ProcessWindowStyle", None),
        value("WorkingDirectory", "System.String", None),
    ],
};

pub const STOP: Cmdlet = Cmdlet {
    name: "Stop-Process",
    class: "StopProcessCommand",
    params: &[
        value("Id", "System.Int32[]", Some(0)),
        value("Name", "System.String[]", None),
        value("InputObject", "System.Diagnostics.Process[]", None),
        switch("Force"),
        switch("PassThru"),
    ],
};

/// Programs a Windows Server 2022 image has on its PATH, of those a test would start.
const PROGRAMS: &[&str] = &[
    "notepad",
    "powershell",
    "cmd",
    "ping",
    "timeout",
    "hostname",
    "whoami",
    "ipconfig",
    "tasklist",
    "conhost",
];

/// `ProcessName`: the image name without directory and `.exe`.
pub fn name_of(command_line: &str) -> String {
    let image = match command_line.strip_prefix('"') {
        Some(rest) => rest.split('"').next().unwrap_or(""),
        None => command_line.split_whitespace().next().unwrap_or(""),
    };
    let file = image.rsplit(['\\', '/']).next().unwrap_or(image);
    let lower = file.to_lowercase();
    match lower.strip_suffix(".exe") {
        Some(_) => file[..file.len() - 4].to_string(),
        None => file.to_string(),
    }
}

/// Whether the image of `command_line` exists on the guest.
pub fn exists(command_line: &str) -> bool {
    PROGRAMS.contains(&name_of(command_line).to_lowercase().as_str())
}

fn process(pid: u32, command: &str) -> V {
    let name = name_of(command);
    obj(&[
        ("Name", V::Str(name.clone())),
        ("Id", V::Int(pid.into())),
        ("ProcessName", V::Str(name)),
        ("SessionId", V::Int(0)),
    ])
}

pub fn get(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let g = lock(s.guest);
    if let Some(ids) = b.get("Id") {
        if b.get("Name").is_some() {
            return Err(ambiguous_set(&GET, b.span("Name")));
        }
        return Ok(by_id(&g, &ints(&GET, "Id", ids, b.span("Id"))?, &GET));
    }
    let all = g
        .processes
        .iter()
        .map(|(pid, p)| (*pid, p.command.as_str()));
    let Some(names) = b.get("Name") else {
        return Ok(Written::items(
            all.map(|(pid, c)| process(pid, c)).collect(),
        ));
    };
    let mut out = Written::default();
    for name in strings(names) {
        let found: Vec<V> = all
            .clone()
            .filter(|(_, c)| name_of(c).eq_ignore_ascii_case(&name))
            .map(|(pid, c)| process(pid, c))
            .collect();
        if found.is_empty() {
            out.errors.push(not_found(&GET, format!("Cannot find a process with the name \"{name}\". Verify the process name and call the cmdlet again."), format!("{name}:String"), "ProcessCommandException", "NoProcessFoundForGivenName"));
        }
        out.items.extend(found);
    }
    Ok(out)
}

/// The processes with these ids, and an error for each missing one.
fn by_id(g: &Guest, ids: &[i64], cmdlet: &Cmdlet) -> Written {
    let mut out = Written::default();
    for id in ids {
        match u32::try_from(*id)
            .ok()
            .and_then(|pid| g.processes.get(&pid).map(|p| (pid, p)))
        {
            Some((pid, p)) => out.items.push(process(pid, &p.command)),
            None => out.errors.push(not_found(
                cmdlet,
                format!("Cannot find a process with the process identifier {id}."),
                format!("{id}:Int32"),
                "ProcessCommandException",
                "NoProcessFoundForGivenId",
            )),
        }
    }
    out
}

fn ambiguous_set(cmdlet: &Cmdlet, at: super::parse::Span) -> PsError {
    PsError::binding(
        cmdlet.name,
        cmdlet.class,
        "Parameter set cannot be resolved using the specified named parameters.".into(),
        "AmbiguousParameterSet",
        at,
    )
}

/// Starts a process inside the session's job object: it ends when the session's command
/// returns (see `super::run`).
pub fn start(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let Some(file) = b.get("FilePath").map(V::text) else {
        return Err(PsError::binding(
            START.name,
            START.class,
            "Cannot process command because of one or more missing mandatory parameters: FilePath."
                .into(),
            "MissingMandatoryParameter",
            Default::default(),
        ));
    };
    if !exists(&file) {
        return Err(PsError {
            command: START.name.into(),
            message: "This command cannot be run due to the error: The system cannot find the file specified.".into(),
            category: "InvalidOperation: (:) [Start-Process], InvalidOperationException".into(),
            id: "InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand".into(),
            at: Default::default(),
            aborts_script: false,
        });
    }
    let args = b
        .get("ArgumentList")
        .map(strings)
        .unwrap_or_default()
        .join(" ");
    let command_line = format!("{file} {args}").trim().to_string();
    let pid = lock(s.guest).spawn(&command_line, dirtier_load(&command_line));
    s.job.push(pid);
    let items = if b.flag("PassThru") {
        vec![process(pid, &command_line)]
    } else {
        vec![]
    };
    Ok(Written::items(items))
}

pub fn stop(s: &mut Session, b: &Bound, input: Vec<V>) -> Result<Written, PsError> {
    let mut ids = match b.get("Id") {
        Some(v) => ints(&STOP, "Id", v, b.span("Id"))?,
        None => Vec::new(),
    };
    ids.extend(input.iter().filter_map(|p| match p.prop("Id") {
        Some((_, V::Int(id))) => Some(*id),
        _ => None,
    }));
    let mut g = lock(s.guest);
    let mut out = by_id(&g, &ids, &STOP);
    if let Some(names) = b.get("Name") {
        for name in strings(names) {
            let pids: Vec<u32> = g
                .processes
                .iter()
                .filter(|(_, p)| name_of(&p.command).eq_ignore_ascii_case(&name))
                .map(|(pid, _)| *pid)
                .collect();
            if pids.is_empty() {
                out.errors.push(not_found(&STOP, format!("Cannot find a process with the name \"{name}\". Verify the process name and call the cmdlet again."), format!("{name}:String"), "ProcessCommandException", "NoProcessFoundForGivenName"));
            }
            ids.extend(pids.iter().map(|p| i64::from(*p)));
        }
    }
    for id in &ids {
        if let Ok(pid) = u32::try_from(*id) {
            g.processes.remove(&pid);
            g.connections.retain(|c| c.pid != pid);
        }
    }
    if !b.flag("PassThru") {
        out.items.clear();
    }
    Ok(out)
}

/// A PowerShell loop re-writing a `[byte[]]::new(<N>MB)` array page by page: one core's worth
/// of dirtying (about 1 GiB/s) over N MiB, like one stress-ng `--vm` worker.
pub fn dirtier_load(command_line: &str) -> Option<(f64, f64)> {
    let lower = command_line.to_lowercase();
    let size = lower.split("[byte[]]::new(").nth(1)?.split(')').next()?;
    let mib: f64 = size.strip_suffix("mb")?.parse().ok()?;
    lower
        .contains("while")
        .then_some((crate::quantity::GIB, mib * crate::quantity::MIB))
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_names_drop_directory_and_extension() {
        assert_eq!(super::name_of("notepad.exe"), "notepad");
        assert_eq!(
            super::name_of("\"C:\\Windows\\System32\\PING.EXE\" -t x"),
            "PING"
        );
        assert_eq!(
            super::name_of("powershell.exe -NoProfile -Command x"),
            "powershell"
        );
    }
}
