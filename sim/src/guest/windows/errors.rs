//! Error records as `powershell.exe -Command` writes them to a redirected stderr (Windows
//! PowerShell 5.1's NormalView, see fixtures/guest/windows/): the message prefixed with the
//! command's name, the position (`At line:1 char:N`, the script line, the offending extent
//! underlined with `~`), `CategoryInfo` and `FullyQualifiedErrorId`.

use super::parse::{ParseError, Span};

/// An error a command raised.
#[derive(Debug, Clone)]
pub struct PsError {
    /// The command it is reported for (`Get-Process`), empty for engine errors.
    pub command: String,
    pub message: String,
    /// `ObjectNotFound: (999999:Int32) [Get-Process], ProcessCommandException`.
    pub category: String,
    pub id: String,
    pub at: Span,
    /// `-ErrorAction Stop` makes an error script-terminating: the rest of the script does not
    /// run. Binding errors and CommandNotFound end only their statement.
    pub aborts_script: bool,
}

impl PsError {
    /// `<name> : The term '<name>' is not recognized…` (CommandNotFoundException).
    pub fn not_found(name: &str, at: Span) -> PsError {
        PsError {
            command: name.to_string(),
            message: format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
            category: format!("ObjectNotFound: ({name}:String) [], CommandNotFoundException"),
            id: "CommandNotFoundException".into(),
            at,
            aborts_script: false,
        }
    }

    /// A ParameterBindingException of `cmdlet` (its .NET class is `class`).
    pub fn binding(cmdlet: &str, class: &str, message: String, id: &str, at: Span) -> PsError {
        PsError {
            command: cmdlet.to_string(),
            message,
            category: format!("InvalidArgument: (:) [{cmdlet}], ParameterBindingException"),
            id: format!("{id},Microsoft.PowerShell.Commands.{class}"),
            at,
            aborts_script: false,
        }
    }

    /// The record as printed, CRLF line ends, for `script` (one line).
    pub fn render(&self, script: &str) -> String {
        let prefix = if self.command.is_empty() {
            String::new()
        } else {
            format!("{} : ", self.command)
        };
        format!(
            "{prefix}{}\r\n{}    + CategoryInfo          : {}\r\n    + FullyQualifiedErrorId : {}\r\n \r\n",
            self.message,
            position(script, self.at),
            self.category,
            self.id
        )
    }
}

/// `At line:1 char:N`, the line, and the extent underlined.
fn position(script: &str, at: Span) -> String {
    let line = script.trim_end();
    format!(
        "At line:1 char:{}\r\n+ {line}\r\n+ {}{}\r\n",
        at.at + 1,
        " ".repeat(at.at),
        "~".repeat(at.len.max(1))
    )
}

/// A ParseException: position first, then the message (PowerShell 5.1's parser error shape).
pub fn parse_error(e: &ParseError, script: &str) -> String {
    format!(
        "{}{}\r\n    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\r\n    + FullyQualifiedErrorId : {}\r\n \r\n",
        position(script, Span { at: e.at, len: 0 }),
        e.message,
        e.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_alone_is_underlined_when_a_command_is_not_found() {
        let e = PsError::not_found("Get-Frob", Span { at: 0, len: 8 });
        let text = e.render("Get-Frob -X 1");
        assert!(text.starts_with("Get-Frob : The term 'Get-Frob' is not recognized"));
        assert!(
            text.contains("\r\n+ Get-Frob -X 1\r\n+ ~~~~~~~~\r\n"),
            "{text}"
        );
    }
}
