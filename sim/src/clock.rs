//! Virtual time. The simulator models real durations (a boot, an NNCP apply, a migration) and
//! runs them `scale` times faster, so scenarios keep real budgets on clusters and finish in
//! seconds here. Timestamps the API writes stay on the wall clock, as a real server's do, so
//! kubectl's ages and clients comparing with their own clock see nothing odd.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

#[derive(Debug, Clone)]
pub struct Clock {
    scale: f64,
    /// Modelled operations take this many times longer (the `slow-operations` fault).
    slowdown: f64,
    /// With a seed, each modelled wait is stretched or shrunk by up to a fifth, so that runs
    /// with different seeds interleave differently and one seed repeats its durations.
    jitter: Option<Jitter>,
}

#[derive(Debug, Clone)]
struct Jitter {
    seed: u64,
    draws: Arc<AtomicU64>,
}

impl Jitter {
    /// A factor in [0.8, 1.2): splitmix64 of the seed and the draw number.
    fn next(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut z = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        0.8 + 0.4 * (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Clock {
    /// `scale` virtual seconds pass per real second; must be finite and positive.
    pub fn new(scale: f64) -> Result<Clock, String> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(format!(
                "time scale must be a positive number (virtual seconds per real second), got {scale}"
            ));
        }
        Ok(Clock {
            scale,
            slowdown: 1.0,
            jitter: None,
        })
    }

    /// Every modelled wait takes `factor` times longer.
    pub fn slowed(mut self, factor: f64) -> Clock {
        self.slowdown = factor;
        self
    }

    /// Modelled waits vary with `seed` (see [`Jitter`]).
    pub fn seeded(mut self, seed: u64) -> Clock {
        self.jitter = Some(Jitter {
            seed,
            draws: Arc::new(AtomicU64::new(0)),
        });
        self
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// `now()` as the RFC 3339 seconds timestamps Kubernetes writes (`2026-11-22T10:00:00Z`).
    pub fn timestamp(&self) -> String {
        self.now().to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// How long a modelled duration takes in real time.
    pub fn real(&self, modelled: Duration) -> Duration {
        modelled.div_f64(self.scale)
    }

    /// When a modelled duration that starts now ends (slowed and jittered as configured).
    pub fn deadline(&self, modelled: Duration) -> tokio::time::Instant {
        let jitter = self.jitter.as_ref().map_or(1.0, Jitter::next);
        tokio::time::Instant::now() + self.real(modelled).mul_f64(self.slowdown * jitter)
    }

    /// Waits for a modelled duration (slowed and jittered as configured).
    pub async fn sleep(&self, modelled: Duration) {
        tokio::time::sleep_until(self.deadline(modelled)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_must_be_positive() {
        assert!(Clock::new(0.0).is_err());
        assert!(Clock::new(f64::NAN).is_err());
        assert!(Clock::new(-1.0).is_err());
        let c = Clock::new(60.0).unwrap();
        assert_eq!(c.real(Duration::from_secs(120)), Duration::from_secs(2));
    }

    #[test]
    fn one_seed_repeats_its_jitter_and_another_does_not() {
        let draws = |seed| {
            let j = Jitter {
                seed,
                draws: Arc::new(AtomicU64::new(0)),
            };
            (0..50).map(|_| j.next()).collect::<Vec<f64>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        assert_ne!(a, draws(8));
        assert!(a.iter().all(|f| (0.8..1.2).contains(f)), "{a:?}");
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        assert!((0.9..1.1).contains(&mean), "mean {mean}");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds_in_utc() {
        let ts = Clock::new(1.0).unwrap().timestamp();
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    }
}
