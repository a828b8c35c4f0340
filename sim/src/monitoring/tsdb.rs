//! What Prometheus keeps of the scrapes: the samples of each, stamped with the scrape's time.
//! A query at time t sees the last scrape at or before t, provided it is within the lookback
//! delta; a series a later scrape no longer has is gone from then on, as the staleness marker
//! Prometheus writes for it makes it (prometheus/prometheus scrape/scrape.go
//! `scrapeLoop.append`, staleness markers; promql/engine.go `LookbackDelta`, 5 minutes).

use std::collections::VecDeque;
use std::sync::Mutex;

use super::exposition::Sample;

/// Scrapes kept for queries with an explicit `time` in the recent past.
const KEPT: usize = 64;

/// One scrape's samples and when it ran (Unix milliseconds, as Prometheus stamps samples).
#[derive(Debug, Clone)]
pub struct Scrape {
    pub at_ms: i64,
    pub samples: Vec<Sample>,
}

pub struct Tsdb {
    scrapes: Mutex<VecDeque<Scrape>>,
    /// The lookback delta in real milliseconds (5 modelled minutes).
    lookback_ms: i64,
}

impl Tsdb {
    pub fn new(lookback: std::time::Duration) -> Tsdb {
        Tsdb {
            scrapes: Mutex::new(VecDeque::new()),
            lookback_ms: lookback.as_millis() as i64,
        }
    }

    pub fn append(&self, scrape: Scrape) {
        let mut scrapes = self.scrapes.lock().unwrap_or_else(|e| e.into_inner());
        scrapes.push_back(scrape);
        while scrapes.len() > KEPT {
            scrapes.pop_front();
        }
    }

    /// The scrape a query evaluated at `t_ms` reads, if one is recent enough.
    pub fn at(&self, t_ms: i64) -> Option<Scrape> {
        let scrapes = self.scrapes.lock().unwrap_or_else(|e| e.into_inner());
        let last = scrapes.iter().rev().find(|s| s.at_ms <= t_ms)?;
        (t_ms - last.at_ms <= self.lookback_ms).then(|| last.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(at_ms: i64) -> Scrape {
        Scrape {
            at_ms,
            samples: Vec::new(),
        }
    }

    #[test]
    fn a_query_reads_the_last_scrape_before_it_within_the_lookback() {
        let db = Tsdb::new(std::time::Duration::from_millis(5000));
        assert!(db.at(1000).is_none());
        db.append(scrape(1000));
        db.append(scrape(1500));
        assert_eq!(db.at(1499).unwrap().at_ms, 1000);
        assert_eq!(db.at(1500).unwrap().at_ms, 1500);
        assert_eq!(db.at(6500).unwrap().at_ms, 1500);
        assert!(
            db.at(6501).is_none(),
            "past the lookback delta nothing is returned"
        );
        assert!(db.at(999).is_none());
    }
}
