//! A scenario's budget as a deadline that moves: it is re-read each time it passes, so a
//! scenario that started more waits meanwhile (each charged to its ledger) gets their budgets
//! too, and one stuck outside any wait still ends.

use std::future::Future;
use std::time::Duration;

/// Runs `work` until it ends, or until `budget()` — read at the start and again each time the
/// last reading has passed — stops growing; then `Err` with the budget that ran out.
pub async fn within<T>(
    work: impl Future<Output = T>,
    budget: impl Fn() -> Duration,
) -> Result<T, Duration> {
    let start = tokio::time::Instant::now();
    tokio::pin!(work);
    let mut current = budget();
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            _ = tokio::time::sleep_until(start + current) => {
                let grown = budget();
                if grown <= current {
                    return Err(current);
                }
                current = grown;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    #[tokio::test]
    async fn work_outlasting_a_budget_that_does_not_grow_is_stopped() {
        let never = futures::future::pending::<()>();
        let ran_out = within(never, || Duration::from_millis(1)).await;
        assert_eq!(ran_out, Err(Duration::from_millis(1)));
    }

    /// The work ends only once the first deadline has passed and the budget was read again;
    /// by then a wait was charged, so the budget has grown and the work is not cut short.
    #[tokio::test]
    async fn a_budget_grown_by_charged_waits_lets_the_work_finish() {
        let (finish, finished) = tokio::sync::oneshot::channel::<&str>();
        let finish = Mutex::new(Some(finish));
        let readings = AtomicU32::new(0);
        let budget = || match readings.fetch_add(1, Ordering::SeqCst) {
            0 => Duration::from_millis(1),
            _ => {
                if let Some(finish) = finish.lock().unwrap().take() {
                    let _ = finish.send("done");
                }
                Duration::from_secs(3600)
            }
        };
        let work = async { finished.await.unwrap() };
        assert_eq!(within(work, budget).await, Ok("done"));
        assert_eq!(readings.load(Ordering::SeqCst), 2);
    }
}
