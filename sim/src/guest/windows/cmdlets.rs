//! The cmdlets a guest knows, by name and alias.

use super::bind::{Bound, Cmdlet};
use super::errors::PsError;
use super::session::{Session, Written};
use super::value::V;
use super::{cim, net, process, utility};

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
