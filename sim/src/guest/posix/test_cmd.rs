//! `test EXPR` and `[ EXPR ]` as bash's builtin evaluates them, over the modelled filesystem.

use super::fs::Node;
use super::state::Shell;
use crate::guest::command::Output;

pub fn run(sh: &Shell, args: &[&str], bracket: bool) -> Output {
    let name = if bracket { "[" } else { "test" };
    let args = if bracket {
        match args.split_last() {
            Some((&"]", rest)) => rest,
            _ => return Output::fail(2, "bash: line 1: [: missing `]'\n"),
        }
    } else {
        args
    };
    match eval(sh, args) {
        Ok(true) => Output::ok(""),
        Ok(false) => Output::fail(1, ""),
        Err(e) => Output::fail(2, format!("bash: line 1: {name}: {e}\n")),
    }
}

fn eval(sh: &Shell, args: &[&str]) -> Result<bool, String> {
    if let Some(i) = args
        .iter()
        .position(|a| *a == "-o")
        .filter(|_| args.len() > 3)
    {
        return Ok(eval(sh, &args[..i])? || eval(sh, &args[i + 1..])?);
    }
    if let Some(i) = args
        .iter()
        .position(|a| *a == "-a")
        .filter(|_| args.len() > 3)
    {
        return Ok(eval(sh, &args[..i])? && eval(sh, &args[i + 1..])?);
    }
    match args {
        [] => Ok(false),
        [one] => Ok(!one.is_empty()),
        ["!", rest @ ..] => Ok(!eval(sh, rest)?),
        ["(", inner @ .., ")"] => eval(sh, inner),
        [op, operand] => unary(sh, op, operand),
        [a, op, b] => binary(a, op, b),
        [_, _, b, ..] => Err(format!("{b}: binary operator expected")),
    }
}

fn unary(sh: &Shell, op: &str, operand: &str) -> Result<bool, String> {
    let node = || sh.lookup(operand);
    Ok(match op {
        "-n" => !operand.is_empty(),
        "-z" => operand.is_empty(),
        "-e" | "-r" | "-w" => node().is_some(),
        "-f" => matches!(node(), Some(Node::File(_) | Node::Program)),
        "-d" => matches!(node(), Some(Node::Dir(_))),
        "-x" => matches!(node(), Some(Node::Program | Node::Dir(_))),
        "-s" => match node() {
            Some(Node::File(t)) => !t.is_empty(),
            Some(_) => true,
            None => false,
        },
        "-L" | "-h" => matches!(
            operand.trim_end_matches('/'),
            "/bin" | "/sbin" | "/lib" | "/lib64"
        ),
        "-b" | "-c" | "-p" | "-S" | "-t" => false,
        _ => return Err(format!("{op}: unary operator expected")),
    })
}

fn binary(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let int = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{s}: integer expression expected"))
    };
    Ok(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-eq" => int(a)? == int(b)?,
        "-ne" => int(a)? != int(b)?,
        "-lt" => int(a)? < int(b)?,
        "-le" => int(a)? <= int(b)?,
        "-gt" => int(a)? > int(b)?,
        "-ge" => int(a)? >= int(b)?,
        "-a" => !a.is_empty() && !b.is_empty(),
        "-o" => !a.is_empty() || !b.is_empty(),
        _ => return Err(format!("{op}: binary operator expected")),
    })
}
