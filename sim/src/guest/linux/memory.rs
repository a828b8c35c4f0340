//! procps `free` and util-linux `lsmem`.

use crate::guest::command::Output;
use crate::guest::Guest;
use crate::quantity;

pub fn free(g: &Guest, args: &[&str]) -> Output {
    let unit: u64 = if args.contains(&"-b") {
        1
    } else if args.contains(&"-m") {
        1 << 20
    } else {
        1024
    };
    let total = g.mem_total();
    let used = total / 50 + g.dirty_load().1 as u64;
    let cache = total / 20;
    let free = total.saturating_sub(used + cache);
    let row = |label: &str, vals: [u64; 6]| {
        let mut s = format!("{label:<9}{:>11}", vals[0] / unit);
        for v in &vals[1..] {
            s.push_str(&format!(" {:>11}", v / unit));
        }
        s.trim_end().to_string() + "\n"
    };
    let header = format!(
        "{:>20} {:>11} {:>11} {:>11} {:>11} {:>11}\n",
        "total", "used", "free", "shared", "buff/cache", "available"
    );
    let mem = row("Mem:", [total, used, free, 8 << 20, cache, total - used]);
    let swap = format!("{:<9}{:>11} {:>11} {:>11}\n", "Swap:", 0, 0, 0);
    Output::ok(header + &mem + &swap)
}

pub fn lsmem(g: &Guest) -> String {
    let gib = g.memory_bytes as f64 / quantity::GIB;
    let size = if gib.fract() == 0.0 {
        format!("{gib}G")
    } else {
        format!("{gib:.1}G")
    };
    format!("RANGE                                 SIZE  STATE REMOVABLE BLOCK\n\nMemory block size:       128M\nTotal online memory: {size:>8}\nTotal offline memory:      0B\n")
}
