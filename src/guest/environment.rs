//! Problems of the test environment rather than of the product: a guest that never let the
//! harness log in, a guest image without a tool a command needs. A run that meets one could
//! not judge the product, so it reports an error naming the environment, never a failure
//! that reads like a regression (runner/junit.rs).

use std::time::Duration;

use super::Output;

/// An environment problem met by a scenario.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Environment {
    #[error("environment problem, not a product failure: the guest {vmi} did not accept an SSH login within the Boot budget of {budget:.1?} ({attempts} attempts); last error: {last}")]
    Unreachable {
        vmi: String,
        budget: Duration,
        attempts: u32,
        last: String,
    },
    /// A refusal waiting does not cure: the image's password is not the one configured.
    #[error(
        "environment problem, not a product failure: the guest {vmi} refused the login: {reason}"
    )]
    LoginRefused { vmi: String, reason: String },
    /// The VM names a preference the cluster does not have: KubeVirt starts nothing.
    #[error("environment problem, not a product failure: VM {vm} names the cluster preference {preference:?}, which the cluster does not have (KubeVirt: {message}); set guest.windows_preference to one `kubectl get virtualmachineclusterpreferences` lists")]
    MissingPreference {
        vm: String,
        preference: String,
        message: String,
    },
    #[error("environment problem, not a product failure: the guest {vmi} has no `{tool}` (`{command}` answered {answer})")]
    MissingTool {
        vmi: String,
        tool: String,
        command: String,
        answer: String,
    },
}

/// The environment problem somewhere in `error`'s chain, if there is one.
pub fn of(error: &anyhow::Error) -> Option<&Environment> {
    error.chain().find_map(|e| e.downcast_ref::<Environment>())
}

/// PowerShell's CommandNotFoundException, as Windows PowerShell 5.1 words it.
const NOT_RECOGNIZED: &str = "is not recognized as the name of a cmdlet";

/// The tool `command` lacks when `out` says the shell found no such command: exit 127 with
/// "command not found" (bash, POSIX `sh`), or PowerShell's "not recognized" error.
pub fn missing_tool(command: &str, out: &Output) -> Option<String> {
    let bash = out.code == 127;
    let powershell = out.stderr.contains(NOT_RECOGNIZED);
    if !bash && !powershell {
        return None;
    }
    // bash: "bash: line 1: stress-ng: command not found"; PowerShell: "ncat : The term 'ncat'
    // is not recognized …". Else the command's first word.
    let named = out.stderr.lines().find_map(|l| {
        let quoted = l.split('\'').nth(1).filter(|_| l.contains(NOT_RECOGNIZED));
        let bash = l
            .strip_suffix(": command not found")
            .and_then(|l| l.rsplit(": ").next());
        quoted.or(bash).map(str::to_string)
    });
    let first = || {
        command
            .split_whitespace()
            .next()
            .unwrap_or(command)
            .to_string()
    };
    Some(named.unwrap_or_else(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: i32, stderr: &str) -> Output {
        Output {
            code,
            stderr: stderr.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_command_names_its_tool() {
        let bash = out(127, "bash: line 1: stress-ng: command not found\n");
        assert_eq!(
            missing_tool("nohup stress-ng --vm 1 &", &bash).as_deref(),
            Some("stress-ng")
        );
        let ps = out(1, "ncat : The term 'ncat' is not recognized as the name of a cmdlet, function, script file, or operable program.\n");
        assert_eq!(missing_tool("ncat -l 5000", &ps).as_deref(), Some("ncat"));
        assert_eq!(missing_tool("foo", &out(127, "")).as_deref(), Some("foo"));
    }

    #[test]
    fn other_failures_are_not_a_missing_tool() {
        assert_eq!(
            missing_tool("cat /x", &out(1, "cat: /x: No such file or directory")),
            None
        );
        assert_eq!(missing_tool("false", &out(1, "")), None);
    }

    #[test]
    fn an_environment_problem_is_found_under_context() {
        let e = anyhow::Error::new(Environment::MissingTool {
            vmi: "vm-a".into(),
            tool: "ncat".into(),
            command: "ncat -l 5000".into(),
            answer: "exit 127".into(),
        })
        .context("starting the TCP peer");
        assert!(matches!(of(&e), Some(Environment::MissingTool { .. })));
        assert!(of(&anyhow::anyhow!("a regression")).is_none());
    }
}
