//! The cmdlets a guest knows, by name and alias, and what each one gets: the session it runs
//! in, its bound parameters and its pipeline input.

use super::bind::{Bound, Cmdlet};
use super::errors::PsError;
use super::value::V;
use super::{cim, net, process, utility};
use crate::guest::{GuestRef, Network};

/// The SSH session a script runs in.
pub struct Session<'a> {
    pub guest: &'a GuestRef,
    pub net: &'a dyn Network,
    /// Processes started in this session's job object (Start-Process): they end with it.
    pub job: Vec<u32>,
    /// The script as sent, for error positions.
    pub script: String,
    /// Error records written so far.
    pub stderr: String,
}

/// What a cmdlet wrote: objects, and non-terminating errors.
#[derive(Default)]
pub struct Written {
    pub items: Vec<V>,
    pub errors: Vec<PsError>,
}

impl Written {
    pub fn items(items: Vec<V>) -> Written {
        Written {
            items,
            errors: Vec::new(),
        }
    }
}

pub type Run = fn(&mut Session, &Bound, Vec<V>) -> Result<Written, PsError>;

/// Every cmdlet, with its built-in aliases (Get-Alias on Windows PowerShell 5.1).
const TABLE: &[(&Cmdlet, &[&str], Run)] = &[
    (&process::GET, &["gps", "ps"], process::get),
    (&process::START, &["saps", "start"], process::start),
    (&process::STOP, &["spps", "kill"], process::stop),
    (&cim::GET, &["gcim"], cim::get),
    (&cim::INVOKE, &["icim"], cim::invoke),
    (&net::ADAPTER, &[], net::adapters),
    (&net::ADDRESS, &[], net::addresses),
    (&net::TEST, &[], net::test),
    (&utility::SELECT, &["select"], utility::select),
    (&utility::JSON, &[], utility::json),
    (&utility::NULL, &[], utility::null),
    (&utility::WRITE, &["echo", "write"], utility::write),
];

/// The cmdlet `name` calls, case-insensitively, by name or alias.
pub fn find(name: &str) -> Option<(&'static Cmdlet, Run)> {
    TABLE
        .iter()
        .find(|(c, aliases, _)| {
            c.name.eq_ignore_ascii_case(name)
                || aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|(c, _, run)| (*c, *run))
}

/// A non-terminating error of `cmdlet` about a missing object.
pub fn not_found(
    cmdlet: &Cmdlet,
    message: String,
    target: String,
    exception: &str,
    id: &str,
) -> PsError {
    PsError {
        command: cmdlet.name.to_string(),
        message,
        category: format!("ObjectNotFound: ({target}) [{}], {exception}", cmdlet.name),
        id: format!("{id},Microsoft.PowerShell.Commands.{}", cmdlet.class),
        at: Default::default(),
        aborts_script: false,
    }
}

/// An object with the given properties.
pub fn obj(props: &[(&str, V)]) -> V {
    V::Obj(
        props
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}
