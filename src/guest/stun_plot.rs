//! A probe's connectivity timeline as an SVG picture: one tick per echo (answered above,
//! unanswered below), the stun-time gap shaded, and the migration's phases as the harness saw
//! them marked as vertical lines. Written by hand: a few dozen elements need no plotting crate.

use std::fmt::Write as _;

use super::stun::{Event, Gap};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 20.0;
const ANSWERED_Y: f64 = 70.0;
const UNANSWERED_Y: f64 = 130.0;
const AXIS_Y: f64 = 190.0;

/// What one picture shows. Times are the prober's wall clock (seconds since the epoch);
/// `scale` turns their differences into the target's seconds (the simulator's time scale, 1
/// on a cluster).
pub struct Timeline<'a> {
    pub title: &'a str,
    pub events: &'a [Event],
    pub gap: Gap,
    /// (label, wall-clock time) of each migration phase seen.
    pub phases: &'a [(String, f64)],
    pub scale: f64,
}

/// The SVG document.
pub fn svg(t: &Timeline) -> String {
    let start = t.events.first().map_or(0.0, |e| e.at);
    let end = t.events.last().map_or(start, |e| e.at).max(start + 1e-9);
    let x = |at: f64| LEFT + (at - start) / (end - start) * (WIDTH - LEFT - RIGHT);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="18" font-size="13">{}</text>"#,
        escape(t.title)
    );
    let stun = t.gap.seconds() * t.scale;
    let _ = writeln!(
        out,
        r##"<rect x="{:.1}" y="40" width="{:.1}" height="120" fill="#f4c7c3"/><text x="{:.1}" y="36">stun {stun:.3} s{}</text>"##,
        x(t.gap.from),
        (x(t.gap.to) - x(t.gap.from)).max(1.0),
        x(t.gap.from),
        if t.gap.recovered {
            ""
        } else {
            " (not recovered)"
        }
    );
    for e in t.events {
        let (y, colour) = match e.answered {
            true => (ANSWERED_Y, "#2e7d32"),
            false => (UNANSWERED_Y, "#c62828"),
        };
        let _ = writeln!(
            out,
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="{colour}"/>"#,
            x(e.at),
            y - 10.0,
            y + 10.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="4" y="{}">answered</text>"#,
        ANSWERED_Y + 4.0
    );
    let _ = writeln!(
        out,
        r#"<text x="4" y="{}">no answer</text>"#,
        UNANSWERED_Y + 4.0
    );
    for (label, at) in t.phases.iter().filter(|(_, at)| (start..=end).contains(at)) {
        let _ = writeln!(
            out,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="40" y2="{AXIS_Y}" stroke="#1565c0" stroke-dasharray="4 3"/><text x="{0:.1}" y="{1}" fill="#1565c0" transform="rotate(-30 {0:.1} {1})">{2}</text>"##,
            x(*at),
            AXIS_Y + 30.0,
            escape(label)
        );
    }
    axis(&mut out, (end - start) * t.scale, &x, start, t.scale);
    out.push_str("</svg>\n");
    out
}

/// The time axis in the target's seconds since the first line, about ten labelled ticks.
fn axis(out: &mut String, span: f64, x: &dyn Fn(f64) -> f64, start: f64, scale: f64) {
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" x2="{}" y1="{AXIS_Y}" y2="{AXIS_Y}" stroke="black"/>"#,
        WIDTH - RIGHT
    );
    let step = nice_step(span / 10.0);
    let mut tick = 0.0;
    while tick <= span + 1e-9 {
        let at = x(start + tick / scale.max(f64::MIN_POSITIVE));
        let _ = writeln!(
            out,
            r#"<line x1="{at:.1}" x2="{at:.1}" y1="{AXIS_Y}" y2="{}" stroke="black"/><text x="{at:.1}" y="{}" text-anchor="middle">{tick:.2}s</text>"#,
            AXIS_Y + 5.0,
            AXIS_Y + 17.0
        );
        tick += step;
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_has_every_echo_the_gap_and_the_phases() {
        let events: Vec<Event> = (0..10)
            .map(|i| Event {
                at: 100.0 + i as f64 * 0.01,
                seq: i + 1,
                answered: !(3..6).contains(&i),
            })
            .collect();
        let gap = Gap {
            from: 100.02,
            to: 100.06,
            recovered: true,
        };
        let phases = vec![
            ("Running".to_string(), 100.01),
            ("Succeeded <ok>".to_string(), 100.07),
        ];
        let svg = svg(&Timeline {
            title: "bridge ipv4",
            events: &events,
            gap,
            phases: &phases,
            scale: 60.0,
        });
        assert_eq!(svg.matches("stroke=\"#2e7d32\"").count(), 7);
        assert_eq!(svg.matches("stroke=\"#c62828\"").count(), 3);
        assert!(svg.contains("stun 2.400 s"), "{svg}");
        assert!(svg.contains("Succeeded &lt;ok&gt;"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(0.23), 0.5);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}
