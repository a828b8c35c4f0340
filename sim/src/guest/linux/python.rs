//! python3 (RHEL 9's 3.9, there because cloud-init needs it): its version, and the standard
//! library's `python3 -m http.server [--bind ADDR] [--directory DIR] [PORT]` (cpython 3.9
//! Lib/http/server.py `test` and its argparse options), a TCP listener on PORT (8000 unless
//! given) that serves until it is killed; and the one `-c` program the model knows, vstp's
//! page dirtier (fixtures/guest/programs/dirty_pages.py), which rewrites one byte of every page
//! of an N MiB buffer, round after round, until it is killed.

use crate::guest::command::Output;

pub const VERSION: &str = "Python 3.9.21";

/// The page dirtier's program text, as `python3 -c` gets it (its MiB are argv[1]).
const DIRTY_PAGES: &str = include_str!("../../../../fixtures/guest/programs/dirty_pages.py");

/// The pace at which the page dirtier dirties memory. It costs one store per 4 KiB page and no
/// system call: on the host that builds this, about 10^8 pages a second. Under KVM's dirty
/// logging each first store to a page after a sync takes a write-protection fault (about a
/// microsecond) unless the CPU logs it (Intel PML), so a little under a million pages a second
/// is the floor: the rate modelled, 2 GiB/s of pages, above any migration's bandwidth.
pub const DIRTY_PAGES_RATE: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;

/// What a python3 command line asks for.
#[derive(Debug, PartialEq)]
pub enum Python {
    Version,
    /// `-m http.server`: listens on the port.
    HttpServer(u16),
    /// The page dirtier: rewrites this many MiB until it is killed.
    DirtyPages(u32),
    /// The program raised: its traceback's last line (exit 1).
    Raised(String),
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
        ["-c", program, rest @ ..] if *program == DIRTY_PAGES.trim_end() => dirty_pages(rest),
        _ => Python::Other,
    }
}

// cpython 3.9 Objects/longobject.c PyLong_FromUnicodeObject (int()'s message) and
// Objects/listobject.c list_subscript (sys.argv[1] beyond the list)
fn dirty_pages(args: &[&str]) -> Python {
    match args.first() {
        None => Python::Raised("IndexError: list index out of range".into()),
        Some(mib) => match mib.trim().parse::<u32>() {
            Ok(mib) => Python::DirtyPages(mib),
            Err(_) => Python::Raised(format!(
                "ValueError: invalid literal for int() with base 10: '{mib}'"
            )),
        },
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
        Python::Raised(last) => Output::fail(1, traceback(&last)),
        Python::DirtyPages(_) => Output::fail(
            2,
            "python3: the simulated guest runs the page dirtier only in the background (end the command with &)\n",
        ),
        Python::HttpServer(_) => Output::fail(
            2,
            "python3: the simulated guest runs http.server only in the background (end the command with &)\n",
        ),
        Python::Other => Output::fail(
            2,
            "python3: programs beyond --version, -m http.server and vstp's page dirtier are not modelled by the simulated guest\n",
        ),
    }
}

/// What python prints for an exception a `-c` program raised on its one line.
fn traceback(last: &str) -> String {
    format!(
        "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n{last}\n"
    )
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

    #[test]
    fn the_page_dirtier_is_known_by_its_text_and_reads_its_mib_as_int_does() {
        let program = DIRTY_PAGES.trim_end();
        assert_eq!(parse(&["-c", program, "350"]), Python::DirtyPages(350));
        assert_eq!(
            parse(&["-c", program, "x"]),
            Python::Raised("ValueError: invalid literal for int() with base 10: 'x'".into())
        );
        assert!(
            matches!(parse(&["-c", program]), Python::Raised(m) if m.starts_with("IndexError"))
        );
        let edited = program.replace("4096", "8192");
        assert_eq!(parse(&["-c", &edited, "350"]), Python::Other);
        assert_eq!(run(&["-c", program, "x"]).code, 1);
    }
}
