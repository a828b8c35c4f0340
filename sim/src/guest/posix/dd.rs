//! coreutils `dd if=… of=… bs=… count=… [conv=notrunc] [status=none|noxfer]`: copies blocks
//! from a source that never ends (`/dev/zero`, `/dev/urandom`) into a file. What lands on
//! tmpfs is memory the guest writes; the copy takes the modelled time memory bandwidth gives.

use super::fs::{self, Node};
use super::state::Shell;
use crate::guest::command::Output;
use crate::guest::lock;

/// Bytes per second dd moves from `/dev/zero` to a tmpfs file: memory-bound, the order of a
/// guest vCPU's memset (about a GiB a second; the same rate as one stress-ng `--vm` worker).
pub const WRITE_RATE: f64 = 1024.0 * 1024.0 * 1024.0;

/// Mount points of tmpfs in a RHEL 9 guest (/tmp is on the root filesystem there:
/// tmp.mount is not enabled).
const TMPFS: &[&str] = &["/dev/shm", "/run"];

/// The operands of one dd command line.
struct Operands {
    input: String,
    output: Option<String>,
    block: u64,
    count: Option<u64>,
    status: String,
}

// coreutils 8.32 src/dd.c main (scanargs, dd_copy, print_stats)
pub fn run(sh: &mut Shell, args: &[&str]) -> Output {
    let op = match operands(args) {
        Ok(op) => op,
        Err(e) => return e,
    };
    if !matches!(
        op.input.as_str(),
        "/dev/zero" | "/dev/urandom" | "/dev/random"
    ) {
        return super::state::unsupported("dd from anything but /dev/zero or /dev/urandom");
    }
    let (Some(output), Some(count)) = (op.output.as_deref(), op.count) else {
        // Without of= the bytes go to the terminal; without count= the copy never ends.
        return super::state::unsupported("dd without of= and count=");
    };
    let bytes = (op.block * count) as f64;
    let zeros = op.input == "/dev/zero";
    if let Err(e) = write(sh, output, bytes, zeros) {
        return e;
    }
    let seconds = bytes / WRITE_RATE;
    sh.elapsed += seconds;
    Output {
        stderr: summary(&op.status, count, bytes, seconds),
        ..Output::default()
    }
}

fn operands(args: &[&str]) -> Result<Operands, Output> {
    let mut op = Operands {
        input: String::new(),
        output: None,
        block: 512,
        count: None,
        status: String::new(),
    };
    for a in args {
        let Some((key, value)) = a.split_once('=') else {
            return Err(Output::fail(
                1,
                format!("dd: unrecognized operand '{a}'\nTry 'dd --help' for more information.\n"),
            ));
        };
        let number = || size(value).ok_or_else(|| invalid(value));
        match key {
            "if" => op.input = value.to_string(),
            "of" => op.output = Some(value.to_string()),
            "bs" | "obs" | "ibs" => op.block = number()?,
            "count" => op.count = Some(number()?),
            "status" => op.status = value.to_string(),
            "conv" | "oflag" | "iflag" => {}
            _ => {
                return Err(Output::fail(
                    1,
                    format!(
                        "dd: unrecognized operand '{a}'\nTry 'dd --help' for more information.\n"
                    ),
                ))
            }
        }
    }
    if op.input.is_empty() {
        return Err(super::state::unsupported("dd reading its standard input"));
    }
    Ok(op)
}

// coreutils 8.32 src/dd.c parse_integer (xstrtoumax with the "bcEGkKMPTwYZ0" suffixes)
/// A dd size: digits with an optional multiplier (c w b K M G, KB MB GB, KiB MiB GiB).
fn size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let factor: u64 = match unit {
        "" | "c" => 1,
        "w" => 2,
        "b" => 512,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "kB" | "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn invalid(value: &str) -> Output {
    Output::fail(1, format!("dd: invalid number: '{value}'\n"))
}

/// Writes `bytes` to `path`: memory when it is on tmpfs, where at most half the guest's
/// memory fits (tmpfs's default size).
fn write(sh: &mut Shell, path: &str, bytes: f64, zeros: bool) -> Result<(), Output> {
    if path == "/dev/null" {
        return Ok(());
    }
    let full = fs::normalize(&sh.cwd(), path);
    let parent = full.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
    if !matches!(
        sh.lookup(if parent.is_empty() { "/" } else { parent }),
        Some(Node::Dir(_))
    ) {
        return Err(Output::fail(
            1,
            format!("dd: failed to open '{path}': No such file or directory\n"),
        ));
    }
    let on_tmpfs = TMPFS.iter().any(|m| full.starts_with(&format!("{m}/")));
    if on_tmpfs {
        let room = lock(sh.guest).mem_total() as f64 / 2.0;
        if bytes > room {
            return Err(Output::fail(
                1,
                format!("dd: error writing '{path}': No space left on device\n"),
            ));
        }
        sh.tmpfs_bytes += bytes;
        if !zeros {
            sh.tmpfs_nonzero += bytes;
        }
    }
    // The file's bytes are not kept (zeros, or noise); its name is.
    sh.written.entry(full).or_default();
    Ok(())
}

// coreutils 8.32 src/dd.c print_xfer_stats (human_readable with human_autoscale)
/// What dd prints on stderr at the end, as `status=` asks.
fn summary(status: &str, count: u64, bytes: f64, seconds: f64) -> String {
    let records = format!("{count}+0 records in\n{count}+0 records out\n");
    match status {
        "none" => String::new(),
        "noxfer" => records,
        _ => {
            let b = bytes as u64;
            let human = |v: f64, units: &[&str], base: f64| {
                let mut v = v;
                let mut i = 0;
                while v >= base && i + 1 < units.len() {
                    v /= base;
                    i += 1;
                }
                // coreutils rounds to two digits below ten ("4.2 MB"), to units above.
                match v < 10.0 {
                    true => format!("{v:.1} {}", units[i]),
                    false => format!("{v:.0} {}", units[i]),
                }
            };
            let si = human(bytes, &["B", "kB", "MB", "GB"], 1000.0);
            let iec = human(bytes, &["B", "KiB", "MiB", "GiB"], 1024.0);
            let rate = human(
                bytes / seconds.max(1e-9),
                &["B/s", "kB/s", "MB/s", "GB/s"],
                1000.0,
            );
            format!("{records}{b} bytes ({si}, {iec}) copied, {seconds:.6} s, {rate}\n")
        }
    }
}
