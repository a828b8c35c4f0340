//! Runs a parsed command line: lists, `&&`/`||`, pipelines, background jobs, compound
//! commands, and simple commands (builtins, then the image's programs on the PATH).

use brush_parser::ast::{self, AndOr, Command, IoRedirect};

use super::expand;
use super::redirect::{self, Fds};
use super::state::{parts, unsupported, Hooks, Parts, Shell};
use super::{builtins, endless, jobs, tools};
use crate::guest::command::Output;
use crate::guest::lock;

pub const HOOKS: Hooks = Hooks {
    invoke,
    program: |sh, p| sh.program(p),
};

impl Shell<'_> {
    pub fn program(&mut self, program: &ast::Program) {
        for list in &program.complete_commands {
            let out = self.list(list, None);
            self.out.stdout.push_str(&out.stdout);
            self.out.stderr.push_str(&out.stderr);
            if self.exited {
                break;
            }
        }
    }

    /// Runs `a; b & c` and returns what reached its standard streams.
    pub fn list(&mut self, list: &ast::CompoundList, input: Option<&str>) -> Output {
        let mut out = Output::default();
        for ast::CompoundListItem(and_or, separator) in &list.0 {
            if self.exited {
                break;
            }
            let part = match separator {
                ast::SeparatorOperator::Async => self.background(and_or),
                ast::SeparatorOperator::Sequence => self.and_or(and_or, input),
            };
            out.stdout.push_str(&part.stdout);
            out.stderr.push_str(&part.stderr);
        }
        out.code = self.status;
        out
    }

    fn and_or(&mut self, list: &ast::AndOrList, input: Option<&str>) -> Output {
        let mut out = self.pipeline(&list.first, input);
        for next in &list.additional {
            if self.exited {
                break;
            }
            let (run, pipeline) = match next {
                AndOr::And(p) => (self.status == 0, p),
                AndOr::Or(p) => (self.status != 0, p),
            };
            if run {
                let part = self.pipeline(pipeline, input);
                out.stdout.push_str(&part.stdout);
                out.stderr.push_str(&part.stderr);
            }
        }
        out
    }

    fn pipeline(&mut self, pipeline: &ast::Pipeline, input: Option<&str>) -> Output {
        let mut carried = input.map(str::to_string);
        let mut stderr = String::new();
        let mut code = 0;
        for command in &pipeline.seq {
            let out = self.command(command, carried.take());
            stderr.push_str(&out.stderr);
            code = out.code;
            carried = Some(out.stdout);
            if self.exited {
                break;
            }
        }
        if pipeline.bang {
            code = u32::from(code == 0);
        }
        self.status = code;
        Output {
            stdout: carried.unwrap_or_default(),
            stderr,
            code,
        }
    }

    fn command(&mut self, command: &Command, input: Option<String>) -> Output {
        match command {
            Command::Simple(simple) => self.simple(simple, input),
            Command::Compound(compound, redirects) => {
                let redirects: Vec<&IoRedirect> =
                    redirects.iter().flat_map(|r| r.0.iter()).collect();
                let mut fds = Fds::new(input);
                if let Err(e) = redirect::open(self, &redirects, &mut fds) {
                    return e;
                }
                let out = self.compound(compound, fds.input.as_deref());
                redirect::route(self, out, &fds)
            }
            Command::Function(_) => unsupported("function definitions"),
            Command::ExtendedTest(..) => unsupported("[["),
        }
    }

    fn compound(&mut self, compound: &ast::CompoundCommand, input: Option<&str>) -> Output {
        use ast::CompoundCommand as C;
        match compound {
            C::BraceGroup(group) => self.list(&group.list, input),
            C::Subshell(sub) => {
                let saved = self.vars.clone();
                let out = self.list(&sub.list, input);
                self.vars = saved;
                self.exited = false;
                out
            }
            C::IfClause(clause) => self.if_clause(clause, input),
            C::ForClause(clause) => self.for_clause(clause, input),
            C::WhileClause(clause) => endless::run(self, clause, false, input),
            C::UntilClause(clause) => endless::run(self, clause, true, input),
            _ => unsupported("this compound command"),
        }
    }

    fn if_clause(&mut self, clause: &ast::IfClauseCommand, input: Option<&str>) -> Output {
        let mut out = self.list(&clause.condition, input);
        let branch = if self.status == 0 {
            Some(&clause.then)
        } else {
            self.else_branch(clause, input, &mut out)
        };
        match branch {
            Some(body) => append(&mut out, self.list(body, input)),
            None => self.status = 0,
        }
        out.code = self.status;
        out
    }

    /// The first `elif` whose condition holds, or the `else`.
    fn else_branch<'c>(
        &mut self,
        clause: &'c ast::IfClauseCommand,
        input: Option<&str>,
        out: &mut Output,
    ) -> Option<&'c ast::CompoundList> {
        for e in clause.elses.iter().flatten() {
            match &e.condition {
                None => return Some(&e.body),
                Some(cond) => {
                    let part = self.list(cond, input);
                    append(out, part);
                    if self.status == 0 {
                        return Some(&e.body);
                    }
                }
            }
        }
        None
    }

    fn for_clause(&mut self, clause: &ast::ForClauseCommand, input: Option<&str>) -> Output {
        let values = match &clause.values {
            Some(words) => match expand::fields_all(self, words) {
                Ok(v) => v,
                Err(e) => return e,
            },
            None => Vec::new(),
        };
        let mut out = Output::default();
        self.status = 0;
        for value in values {
            self.vars.insert(clause.variable_name.clone(), value);
            let part = self.list(&clause.body.list, input);
            append(&mut out, part);
            if self.exited {
                break;
            }
        }
        out.code = self.status;
        out
    }

    fn simple(&mut self, simple: &ast::SimpleCommand, input: Option<String>) -> Output {
        let Parts {
            words,
            redirects,
            assignments,
        } = match parts(simple) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let args = match expand::fields_of(self, &words) {
            Ok(args) => args,
            Err(e) => return e,
        };
        if let Err(e) = self.assign(&assignments) {
            return e;
        }
        let mut fds = Fds::new(input);
        if let Err(e) = redirect::open(self, &redirects, &mut fds) {
            self.status = e.code;
            return e;
        }
        if args.is_empty() {
            return Output::default();
        }
        let out = self.invoke(args, fds.input.clone());
        self.status = out.code;
        redirect::route(self, out, &fds)
    }

    fn assign(&mut self, assignments: &[&ast::Assignment]) -> Result<(), Output> {
        for a in assignments {
            let (ast::AssignmentName::VariableName(name), ast::AssignmentValue::Scalar(value)) =
                (&a.name, &a.value)
            else {
                return Err(unsupported("arrays"));
            };
            let value = expand::word(self, value)?;
            self.vars.insert(name.clone(), value);
        }
        Ok(())
    }

    /// `cmd &`: the job gets a PID at once (`$!`), whether or not its program exists; a
    /// missing program exits at once with its error on the job's stderr. An endless loop is
    /// a process that keeps running its body.
    fn background(&mut self, list: &ast::AndOrList) -> Output {
        self.status = 0;
        let simple = match (&list.first.seq[..], list.additional.is_empty()) {
            ([Command::Simple(s)], true) if !list.first.bang => s,
            ([loop_], true)
                if endless::clause(loop_).is_some_and(|(c, u)| endless::is_endless(c, u)) =>
            {
                let (clause, _) = endless::clause(loop_).expect("a loop");
                // bash runs a compound command in the background in a forked bash.
                self.last_bg = Some(endless::start(self, "bash", &clause.1.list));
                return Output::default();
            }
            _ => {
                self.last_bg = Some(lock(self.guest).spawn("bash", None));
                return Output::default();
            }
        };
        jobs::start(self, simple)
    }
}

/// Runs a command by name: a builtin, or a program of the image.
fn invoke(sh: &mut Shell<'_>, args: Vec<String>, input: Option<String>) -> Output {
    if let Some(out) = builtins::run(sh, &args, input.as_deref()) {
        return out;
    }
    let program = match sh.resolve(&args[0]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut args = args;
    args[0] = program.to_string();
    tools::run(sh, args, input)
}

fn append(out: &mut Output, part: Output) {
    out.stdout.push_str(&part.stdout);
    out.stderr.push_str(&part.stderr);
    out.code = part.code;
}
