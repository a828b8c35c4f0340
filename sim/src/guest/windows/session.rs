//! What a cmdlet gets and gives: the SSH session it runs in, and what it wrote (objects and
//! non-terminating errors).

use super::bind::Cmdlet;
use super::errors::PsError;
use super::value::V;
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
