//! python3 (RHEL 9's 3.9, there because cloud-init needs it): its version, and the standard
//! library's `python3 -m http.server [--bind ADDR] [--directory DIR] [PORT]` (cpython 3.9
//! Lib/http/server.py `test` and its argparse options), a TCP listener on PORT (8000 unless
//! given) that serves until it is killed.

use crate::guest::command::Output;

pub const VERSION: &str = "Python 3.9.21";

/// What a python3 command line asks for.
#[derive(Debug, PartialEq)]
pub enum Python {
    Version,
    /// `-m http.server`: listens on the port.
    HttpServer(u16),
    /// argparse refused the arguments: its message (exit 2).
    Usage(String),
    /// Anything else python can do, which the model does not run.
    Other,
}

// cpython 3.9 Lib/http/server.py (the `if __name__ == '__main__'` argparse block, test)
pub fn parse(args: &[&str]) -> Python {
    match args {
        ["-V" | "--version"] => Python::Version,
        ["-m", "http.server", rest @ ..] => http_server(rest),
        _ => Python::Other,
    }
}

fn http_server(args: &[&str]) -> Python {
    let usage = "usage: server.py [-h] [--cgi] [--bind ADDRESS] [--directory DIRECTORY] [port]\n";
    let mut port = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--bind" | "-b" | "--directory" | "-d" => {
                if args.get(i + 1).is_none() {
                    let flag = args[i];
                    return Python::Usage(format!(
                        "{usage}server.py: error: argument --{}: expected one argument\n",
                        flag.trim_start_matches('-')
                    ));
                }
                i += 1;
            }
            "--cgi" => {}
            a if a.starts_with('-') => {
                return Python::Usage(format!(
                    "{usage}server.py: error: unrecognized arguments: {a}\n"
                ))
            }
            a => match a.parse::<u16>() {
                Ok(p) if port.is_none() => port = Some(p),
                Ok(_) => {
                    return Python::Usage(format!(
                        "{usage}server.py: error: unrecognized arguments: {a}\n"
                    ))
                }
                Err(_) => {
                    return Python::Usage(format!(
                        "{usage}server.py: error: argument port: invalid int value: '{a}'\n"
                    ))
                }
            },
        }
        i += 1;
    }
    Python::HttpServer(port.unwrap_or(8000))
}

/// python3 in the foreground.
pub fn run(args: &[&str]) -> Output {
    match parse(args) {
        Python::Version => Output::ok(format!("{VERSION}\n")),
        Python::Usage(message) => Output::fail(2, message),
        Python::HttpServer(_) => Output::fail(
            2,
            "python3: the simulated guest runs http.server only in the background (end the command with &)\n",
        ),
        Python::Other => Output::fail(
            2,
            "python3: programs beyond --version and -m http.server are not modelled by the simulated guest\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_server_arguments_are_read_as_argparse_reads_them() {
        assert_eq!(parse(&["-m", "http.server"]), Python::HttpServer(8000));
        assert_eq!(
            parse(&["-m", "http.server", "--bind", "0.0.0.0", "9000"]),
            Python::HttpServer(9000)
        );
        assert!(matches!(
            parse(&["-m", "http.server", "x"]),
            Python::Usage(_)
        ));
        assert_eq!(parse(&["-c", "print(1)"]), Python::Other);
    }
}
