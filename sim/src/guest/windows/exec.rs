//! Runs a parsed script as `powershell.exe -Command` does: statement by statement, each
//! pipeline's output formatted by Out-Default, errors written as records to stderr, and the
//! exit code from the last statement's `$?` (0 or 1) unless `exit N` says otherwise
//! (about_PowerShell_exe, -Command: "the exit code is determined by the status of the last
//! command executed within the script block").

use super::bind::{bind, Action};
use super::cmdlets::find;
use super::errors::{parse_error, PsError};
use super::parse::{self, Arg, Command, Element, Expr, Member, Pipeline};
use super::session::{Session, Written};
use super::value::{out_default, V};
use crate::guest::command::Output;
use crate::guest::lock;

/// How a statement ended.
enum End {
    /// Its output, and `$?`.
    Done(Vec<V>, bool),
    Exit(u32),
    Failed(PsError),
}

/// Runs `script` in `session`.
pub fn run(session: &mut Session, script: &str) -> Output {
    session.script = script.to_string();
    let statements = match parse::script(script) {
        Ok(s) => s,
        Err(e) => return Output::fail(1, parse_error(&e, script)),
    };
    let mut out = Output::default();
    let mut last_ok = true;
    for statement in &statements {
        let end = statement_of(session, statement);
        out.stderr.push_str(&std::mem::take(&mut session.stderr));
        match end {
            End::Done(items, ok) => {
                out.stdout.push_str(&out_default(&items));
                last_ok = ok;
            }
            End::Exit(code) => {
                out.code = code;
                return out;
            }
            End::Failed(e) => {
                out.stderr.push_str(&e.render(script));
                last_ok = false;
                if e.aborts_script {
                    break;
                }
            }
        }
    }
    out.code = u32::from(!last_ok);
    out
}

fn statement_of(s: &mut Session, p: &Pipeline) -> End {
    if let [Element::Command(c)] = p.as_slice() {
        if c.name.eq_ignore_ascii_case("exit") {
            return exit_code(s, c);
        }
    }
    match pipeline(s, p) {
        Ok((items, ok)) => End::Done(items, ok),
        Err(e) => End::Failed(e),
    }
}

/// `exit [N]`: the process exit code.
fn exit_code(s: &mut Session, c: &Command) -> End {
    let code = match c.args.first() {
        Some(Arg::Value(e, _)) => eval(s, e).map(|v| v.text().parse::<i64>().unwrap_or(0)),
        _ => Ok(0),
    };
    match code {
        Ok(n) => End::Exit(n as u32),
        Err(e) => End::Failed(e),
    }
}

/// Runs a pipeline; returns its output and `$?`. Non-terminating errors are written to
/// the session's stderr as they happen (or promoted to terminating under `-ErrorAction Stop`).
fn pipeline(s: &mut Session, p: &Pipeline) -> Result<(Vec<V>, bool), PsError> {
    let mut items = Vec::new();
    let mut ok = true;
    for element in p {
        match element {
            Element::Expr(e, _) => items = enumerate(eval(s, e)?),
            Element::Command(c) => {
                let (written, action) = command(s, c, std::mem::take(&mut items))?;
                for mut e in written.errors {
                    ok = false;
                    e.at = c.extent;
                    match action {
                        Action::Stop => {
                            e.aborts_script = true;
                            return Err(e);
                        }
                        Action::Continue => {
                            let record = e.render(&s.script);
                            s.stderr.push_str(&record)
                        }
                        Action::Silent => {}
                    }
                }
                items = written.items;
            }
        }
    }
    Ok((items, ok))
}

/// Arrays are enumerated into a pipeline.
fn enumerate(v: V) -> Vec<V> {
    match v {
        V::List(items) => items,
        V::Null => vec![],
        one => vec![one],
    }
}

fn command(s: &mut Session, c: &Command, input: Vec<V>) -> Result<(Written, Action), PsError> {
    let Some((cmdlet, run)) = find(&c.name) else {
        return Err(PsError::not_found(&c.name, c.name_at));
    };
    let bound = bind(cmdlet, c, &mut |e| eval(s, e))?;
    // Errors a cmdlet raises point at the whole command, unless they name an argument.
    let written = run(s, &bound, input).map_err(|mut e| {
        if e.at == Default::default() {
            e.at = c.extent;
        }
        e
    })?;
    Ok((written, bound.action))
}

/// The value of an expression.
fn eval(s: &mut Session, e: &Expr) -> Result<V, PsError> {
    Ok(match e {
        Expr::Str(t) | Expr::Bare(t) => V::Str(t.clone()),
        Expr::Num(n) => V::Int(*n),
        Expr::Var(name) => variable(s, name),
        Expr::List(items) => V::List(items.iter().map(|i| eval(s, i)).collect::<Result<_, _>>()?),
        Expr::Hash(pairs) => V::Obj(
            pairs
                .iter()
                .map(|(k, v)| Ok((k.clone(), eval(s, v)?)))
                .collect::<Result<_, PsError>>()?,
        ),
        Expr::Sub(p, members) => {
            let (items, _) = pipeline(s, p)?;
            let mut v = match items.len() {
                0 => V::Null,
                1 => items.into_iter().next().unwrap_or(V::Null),
                _ => V::List(items),
            };
            for m in members {
                v = member(v, m)?;
            }
            v
        }
    })
}

fn variable(s: &Session, name: &str) -> V {
    let g = lock(s.guest);
    match name.to_lowercase().as_str() {
        "env:number_of_processors" => V::Str(g.vcpus.to_string()),
        "env:computername" => V::Str(g.hostname.to_uppercase()),
        "true" => V::Bool(true),
        "false" => V::Bool(false),
        _ => V::Null,
    }
}

/// `.Property` (enumerated over arrays, as PowerShell's member enumeration does) or
/// `.Method(…)` of the few methods used on DateTime and strings.
fn member(v: V, m: &Member) -> Result<V, PsError> {
    match (m, &v) {
        (Member::Prop(name), V::List(items)) => Ok(V::List(
            items
                .iter()
                .filter_map(|i| i.prop(name).map(|(_, v)| v.clone()))
                .collect(),
        )),
        (Member::Prop(name), _) => Ok(v.prop(name).map(|(_, v)| v.clone()).unwrap_or(V::Null)),
        (Member::Call(name, _), V::Date(d)) if name.eq_ignore_ascii_case("ToUniversalTime") => {
            Ok(V::Date(*d))
        }
        (Member::Call(name, args), V::Date(d)) if name.eq_ignore_ascii_case("ToString") => {
            match args.first() {
                Some(Expr::Str(f)) if f == "o" || f == "O" => Ok(V::Str(V::round_trip(d))),
                _ => Ok(V::Str(v.text())),
            }
        }
        (Member::Call(name, _), _) if name.eq_ignore_ascii_case("ToString") => Ok(V::Str(v.text())),
        (Member::Call(_, _), V::Null) => Err(runtime(
            "You cannot call a method on a null-valued expression.".into(),
            "InvokeMethodOnNull",
        )),
        (Member::Call(name, _), _) => Err(runtime(
            format!(
                "Method invocation failed because [{}] does not contain a method named '{name}'.",
                type_name(&v)
            ),
            "MethodNotFound",
        )),
    }
}

fn type_name(v: &V) -> &'static str {
    match v {
        V::Null => "System.Object",
        V::Bool(_) => "System.Boolean",
        V::Int(_) => "System.Int32",
        V::Str(_) => "System.String",
        V::Date(_) => "System.DateTime",
        V::List(_) => "System.Object[]",
        V::Obj(_) => "System.Management.Automation.PSCustomObject",
    }
}

fn runtime(message: String, id: &str) -> PsError {
    PsError {
        command: String::new(),
        message,
        category: "InvalidOperation: (:) [], RuntimeException".into(),
        id: id.into(),
        at: Default::default(),
        aborts_script: false,
    }
}
