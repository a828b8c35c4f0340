//! Parameter binding as PowerShell does it (System.Management.Automation
//! CmdletParameterBinderController): names are case-insensitive and may be any unambiguous
//! prefix or a declared alias; `-Name:value` and `-Name value` are the same; the remaining
//! values fill positional parameters in order; the common parameters (`-ErrorAction`, …)
//! belong to every cmdlet.

use super::errors::PsError;
use super::parse::{Arg, Command, Span};
use super::value::V;

/// A parameter a cmdlet declares.
pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub switch: bool,
    pub position: Option<usize>,
    /// The .NET type, for binding messages (`System.Int32[]`).
    pub ty: &'static str,
}

pub const fn value(name: &'static str, ty: &'static str, position: Option<usize>) -> Spec {
    Spec {
        name,
        aliases: &[],
        switch: false,
        position,
        ty,
    }
}

pub const fn switch(name: &'static str) -> Spec {
    Spec {
        name,
        aliases: &[],
        switch: true,
        position: None,
        ty: "System.Management.Automation.SwitchParameter",
    }
}

/// The common parameters every cmdlet takes, with their aliases (about_CommonParameters).
const COMMON: &[Spec] = &[
    Spec {
        name: "ErrorAction",
        aliases: &["ea"],
        switch: false,
        position: None,
        ty: "System.Management.Automation.ActionPreference",
    },
    Spec {
        name: "WarningAction",
        aliases: &["wa"],
        switch: false,
        position: None,
        ty: "System.Management.Automation.ActionPreference",
    },
    Spec {
        name: "InformationAction",
        aliases: &["infa"],
        switch: false,
        position: None,
        ty: "System.Management.Automation.ActionPreference",
    },
    Spec {
        name: "Verbose",
        aliases: &["vb"],
        switch: true,
        position: None,
        ty: "System.Management.Automation.SwitchParameter",
    },
    Spec {
        name: "Debug",
        aliases: &["db"],
        switch: true,
        position: None,
        ty: "System.Management.Automation.SwitchParameter",
    },
    Spec {
        name: "ErrorVariable",
        aliases: &["ev"],
        switch: false,
        position: None,
        ty: "System.String",
    },
    Spec {
        name: "WarningVariable",
        aliases: &["wv"],
        switch: false,
        position: None,
        ty: "System.String",
    },
    Spec {
        name: "InformationVariable",
        aliases: &["iv"],
        switch: false,
        position: None,
        ty: "System.String",
    },
    Spec {
        name: "OutVariable",
        aliases: &["ov"],
        switch: false,
        position: None,
        ty: "System.String",
    },
    Spec {
        name: "OutBuffer",
        aliases: &["ob"],
        switch: false,
        position: None,
        ty: "System.Int32",
    },
    Spec {
        name: "PipelineVariable",
        aliases: &["pv"],
        switch: false,
        position: None,
        ty: "System.String",
    },
];

/// A cmdlet as the binder sees it.
pub struct Cmdlet {
    pub name: &'static str,
    /// Its .NET class (`GetProcessCommand`), part of FullyQualifiedErrorId.
    pub class: &'static str,
    pub params: &'static [Spec],
}

/// What `-ErrorAction` asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Continue,
    Stop,
    Silent,
}

/// The bound arguments: parameter name (as declared) → value (`True` for a switch).
pub struct Bound {
    pub values: Vec<(&'static str, V, Span)>,
    pub action: Action,
}

impl Bound {
    pub fn get(&self, name: &str) -> Option<&V> {
        self.values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, _)| v)
    }

    pub fn span(&self, name: &str) -> Span {
        self.values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, s)| *s)
            .unwrap_or_default()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| *v == V::Bool(true))
    }
}

/// Binds `command`'s arguments to `cmdlet`'s parameters; `eval` computes argument values.
pub fn bind(
    cmdlet: &Cmdlet,
    command: &Command,
    eval: &mut dyn FnMut(&super::parse::Expr) -> Result<V, PsError>,
) -> Result<Bound, PsError> {
    let fail = |message: String, id: &str, at: Span| {
        PsError::binding(cmdlet.name, cmdlet.class, message, id, at)
    };
    let mut bound = Bound {
        values: Vec::new(),
        action: Action::Continue,
    };
    let mut args = command.args.iter().peekable();
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        let (name, inline, at) = match arg {
            Arg::Value(e, at) => {
                positional.push((e, *at));
                continue;
            }
            Arg::Param { name, value, at } => (name, value, *at),
        };
        let spec = resolve(cmdlet, name).map_err(|(m, id)| fail(m, id, at))?;
        if bound.get(spec.name).is_some() {
            return Err(fail(format!("Cannot bind parameter because parameter '{}' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".", spec.name), "ParameterAlreadyBound", at));
        }
        let (value, at) = match (inline, spec.switch) {
            (Some(e), _) => (eval(e)?, at),
            (None, true) => (V::Bool(true), at),
            (None, false) => match args.next_if(|a| matches!(a, Arg::Value(..))) {
                Some(Arg::Value(e, value_at)) => (eval(e)?, *value_at),
                _ => return Err(fail(format!("Missing an argument for parameter '{}'. Specify a parameter of type '{}' and try again.", spec.name, spec.ty), "MissingArgument", at)),
            },
        };
        if spec.name == "ErrorAction" {
            bound.action = action(&value).ok_or_else(|| fail(format!("Cannot bind parameter 'ErrorAction'. Cannot convert value \"{}\" to type \"System.Management.Automation.ActionPreference\". Error: \"Unable to match the identifier name {} to a valid enumerator name. Specify one of the following enumerator names and try again:\r\nSilentlyContinue, Stop, Continue, Inquire, Ignore, Suspend\"", value.text(), value.text()), "CannotConvertArgumentNoMessage", at))?;
        }
        bound.values.push((spec.name, value, at));
    }
    let mut free: Vec<&Spec> = cmdlet
        .params
        .iter()
        .filter(|p| p.position.is_some() && bound.get(p.name).is_none())
        .collect();
    free.sort_by_key(|p| p.position);
    let mut free = free.into_iter();
    for (e, at) in positional {
        let Some(spec) = free.next() else {
            let text = eval(e).map(|v| v.text()).unwrap_or_default();
            return Err(fail(
                format!("A positional parameter cannot be found that accepts argument '{text}'."),
                "PositionalParameterNotFound",
                at,
            ));
        };
        bound.values.push((spec.name, eval(e)?, at));
    }
    Ok(bound)
}

/// The parameter `-name` means: exact name or alias first, else the one it is a prefix of.
fn resolve(cmdlet: &Cmdlet, name: &str) -> Result<&'static Spec, (String, &'static str)> {
    let all = || cmdlet.params.iter().chain(COMMON);
    let exact = all().find(|p| {
        p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    });
    if let Some(spec) = exact {
        return Ok(spec);
    }
    let lower = name.to_lowercase();
    let matches: Vec<&Spec> = all()
        .filter(|p| p.name.to_lowercase().starts_with(&lower))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err((
            format!("A parameter cannot be found that matches parameter name '{name}'."),
            "NamedParameterNotFound",
        )),
        many => {
            let names: Vec<String> = many.iter().map(|p| format!("-{}", p.name)).collect();
            Err((format!("Parameter cannot be processed because the parameter name '{name}' is ambiguous. Possible matches include: {}.", names.join(" ")), "AmbiguousParameter"))
        }
    }
}

fn action(v: &V) -> Option<Action> {
    match v.text().to_lowercase().as_str() {
        "stop" => Some(Action::Stop),
        "continue" | "inquire" => Some(Action::Continue),
        "silentlycontinue" | "ignore" => Some(Action::Silent),
        _ => None,
    }
}

/// An argument converted to Int32 (or an array of them), as the binder converts strings.
pub fn ints(cmdlet: &Cmdlet, name: &str, v: &V, at: Span) -> Result<Vec<i64>, PsError> {
    let items = match v {
        V::List(items) => items.clone(),
        one => vec![one.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            V::Int(n) => Ok(*n),
            other => other.text().trim().parse().map_err(|_| {
                PsError::binding(cmdlet.name, cmdlet.class, format!("Cannot bind parameter '{name}'. Cannot convert value \"{}\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", other.text()), "CannotConvertArgumentNoMessage", at)
            }),
        })
        .collect()
}

/// An argument as strings (a single value or an array).
pub fn strings(v: &V) -> Vec<String> {
    match v {
        V::List(items) => items.iter().map(V::text).collect(),
        one => vec![one.text()],
    }
}
