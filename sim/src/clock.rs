//! Virtual time. The simulator models real durations (a boot, an NNCP apply, a migration) and
//! runs them `scale` times faster, so scenarios keep real budgets on clusters and finish in
//! seconds here. Timestamps the API writes stay on the wall clock, as a real server's do, so
//! kubectl's ages and clients comparing with their own clock see nothing odd.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

#[derive(Debug, Clone)]
pub struct Clock {
    scale: f64,
}

impl Clock {
    /// `scale` virtual seconds pass per real second; must be finite and positive.
    pub fn new(scale: f64) -> Result<Clock, String> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(format!(
                "time scale must be a positive number (virtual seconds per real second), got {scale}"
            ));
        }
        Ok(Clock { scale })
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

    /// Waits for a modelled duration.
    pub async fn sleep(&self, modelled: Duration) {
        tokio::time::sleep(self.real(modelled)).await
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
    fn timestamps_are_rfc3339_seconds_in_utc() {
        let ts = Clock::new(1.0).unwrap().timestamp();
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    }
}
