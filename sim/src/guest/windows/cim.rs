//! Get-CimInstance and Invoke-CimMethod (CimCmdlets) over the few WMI classes the harness
//! reads, and `Win32_Process.Create`, which WMI's provider host (WmiPrvSE) carries out: the
//! new process is WmiPrvSE's child, outside the SSH session's job object, so it outlives the
//! session (PowerShell/Win32-OpenSSH issue #1642, jborean93: "use WMI"; Microsoft Learn,
//! "Create method of the Win32_Process class": ProcessId out, ReturnValue 0 or 9 = Path Not
//! Found).

use super::bind::{value, Bound, Cmdlet};
use super::errors::PsError;
use super::process;
use super::session::{obj, Session, Written};
use super::value::V;
use crate::guest::{lock, Guest};

pub const GET: Cmdlet = Cmdlet {
    name: "Get-CimInstance",
    class: "GetCimInstanceCommand",
    params: &[
        value("ClassName", "System.String", Some(0)),
        value("Namespace", "System.String", None),
        value("Filter", "System.String", None),
        value("Property", "System.String[]", None),
    ],
};

pub const INVOKE: Cmdlet = Cmdlet {
    name: "Invoke-CimMethod",
    class: "InvokeCimMethodCommand",
    params: &[
        value("ClassName", "System.String", Some(0)),
        value("MethodName", "System.String", Some(2)),
        value("Arguments", "System.Collections.IDictionary", Some(1)),
        value("Namespace", "System.String", None),
    ],
};

/// A CimException as the CimCmdlets report it (message from WMI's status text).
fn cim_error(cmdlet: &Cmdlet, message: &str, class: &str, hresult: &str) -> PsError {
    PsError {
        command: cmdlet.name.into(),
        message: message.into(),
        category: format!(
            "MetadataError: (root\\cimv2:{class}:String) [{}], CimException",
            cmdlet.name
        ),
        id: format!(
            "HRESULT {hresult},Microsoft.Management.Infrastructure.CimCmdlets.{}",
            cmdlet.class
        ),
        at: Default::default(),
        aborts_script: false,
    }
}

fn instances(g: &Guest, class: &str) -> Option<Vec<V>> {
    let booted = g.boot_time();
    let host = g.hostname.to_uppercase();
    Some(match class.to_lowercase().as_str() {
        "win32_computersystem" => vec![obj(&[
            ("Name", V::Str(host)),
            ("NumberOfProcessors", V::Int(1)),
            ("NumberOfLogicalProcessors", V::Int(g.vcpus.into())),
            ("TotalPhysicalMemory", V::Int(g.mem_total() as i64)),
        ])],
        "win32_operatingsystem" => vec![obj(&[
            (
                "Caption",
                V::Str(format!("Microsoft {}", g.distro.pretty_name)),
            ),
            ("CSName", V::Str(host)),
            ("LastBootUpTime", V::Date(booted)),
            ("LocalDateTime", V::Date(g.clock.now())),
            (
                "TotalVisibleMemorySize",
                V::Int((g.mem_total() / 1024) as i64),
            ),
        ])],
        "win32_process" => g
            .processes
            .iter()
            .map(|(pid, p)| {
                obj(&[
                    ("ProcessId", V::Int((*pid).into())),
                    (
                        "Name",
                        V::Str(format!("{}.exe", process::name_of(&p.command))),
                    ),
                    ("CommandLine", V::Str(p.command.clone())),
                ])
            })
            .collect(),
        _ => return None,
    })
}

pub fn get(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let class = b.get("ClassName").map(V::text).unwrap_or_default();
    let g = lock(s.guest);
    let all = instances(&g, &class)
        .ok_or_else(|| cim_error(&GET, "Invalid class ", &class, "0x80041010"))?;
    let items = match b.get("Filter").map(V::text) {
        None => all,
        Some(filter) => {
            let (key, want) = equality(&filter)
                .ok_or_else(|| cim_error(&GET, "Invalid query ", &class, "0x80041017"))?;
            all.into_iter()
                .filter(|i| {
                    i.prop(&key)
                        .is_some_and(|(_, v)| v.text().eq_ignore_ascii_case(&want))
                })
                .collect()
        }
    };
    Ok(Written::items(items))
}

/// A WQL filter of the one form supported, `Key = Value` or `Key = 'Value'`.
fn equality(filter: &str) -> Option<(String, String)> {
    let (key, value) = filter.split_once('=')?;
    let value = value.trim().trim_matches(['\'', '"']);
    Some((key.trim().to_string(), value.to_string()))
}

pub fn invoke(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let class = b.get("ClassName").map(V::text).unwrap_or_default();
    let method = b.get("MethodName").map(V::text).unwrap_or_default();
    if !class.eq_ignore_ascii_case("Win32_Process") {
        let known = instances(&lock(s.guest), &class).is_some();
        let (message, hresult) = if known {
            ("Invalid method ", "0x8004102e")
        } else {
            ("Invalid class ", "0x80041010")
        };
        return Err(cim_error(&INVOKE, message, &class, hresult));
    }
    if !method.eq_ignore_ascii_case("Create") {
        return Err(cim_error(&INVOKE, "Invalid method ", &class, "0x8004102e"));
    }
    let arguments = b.get("Arguments").cloned().unwrap_or(V::Obj(Vec::new()));
    if !matches!(arguments, V::Obj(_)) {
        return Err(PsError::binding(INVOKE.name, INVOKE.class, format!("Cannot bind parameter 'Arguments'. Cannot convert the \"{}\" value of type \"System.String\" to type \"System.Collections.IDictionary\".", arguments.text()), "CannotConvertArgumentNoMessage", b.span("Arguments")));
    }
    let command_line = arguments
        .prop("CommandLine")
        .map(|(_, v)| v.text())
        .unwrap_or_default();
    let (pid, code) = if process::exists(&command_line) {
        let pid = lock(s.guest).spawn(&command_line, process::dirtier_load(&command_line));
        (V::Int(pid.into()), 0)
    } else {
        (V::Null, 9)
    };
    Ok(Written::items(vec![obj(&[
        ("ProcessId", pid),
        ("ReturnValue", V::Int(code)),
        ("PSComputerName", V::Null),
    ])]))
}
