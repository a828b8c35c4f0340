//! API calls survive a busy or flapping API server: 429 and 5xx answers and broken
//! connections are retried with backoff (honouring the server's retry hint when it gives one);
//! every other answer is final.

use std::future::Future;
use std::time::Duration;

/// Attempts per call; with the backoff below that is about 15 s of trouble tolerated.
const ATTEMPTS: u32 = 7;

/// Runs `call` until it succeeds, fails for good, or has been tried [`ATTEMPTS`] times.
pub async fn retrying<T, F, Fut>(call: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kube::Result<T>>,
{
    retrying_when(call, |e, attempt| transient(e).then(|| pause(attempt, e))).await
}

/// Runs `call` until it succeeds, or fails in a way `again` gives no pause for, or has been
/// tried [`ATTEMPTS`] times; `again(error, attempt)` is the pause before the next attempt.
pub async fn retrying_when<T, E, F, Fut>(
    mut call: F,
    again: impl Fn(&E, u32) -> Option<Duration>,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(e) if attempt < ATTEMPTS => match again(&e, attempt) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return Err(e),
            },
            done => return done,
        }
    }
}

/// Whether the error is the server or the network having trouble rather than an answer.
pub fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// The pause before attempt `attempt + 1`: 0.2 s doubling to 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let doubled =
        Duration::from_millis(200) * 2u32.saturating_pow(attempt.saturating_sub(1).min(5));
    doubled.min(Duration::from_secs(5))
}

/// [`backoff`], unless a 429 says how long to wait (its retry-after detail or message).
pub fn pause(attempt: u32, error: &kube::Error) -> Duration {
    let hinted = match error {
        kube::Error::Api(status) if status.code == 429 => status
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s.into()))
            .or_else(|| retry_hint(&status.message)),
        _ => None,
    };
    hinted
        .unwrap_or_else(|| backoff(attempt))
        .min(Duration::from_secs(5))
}

/// The seconds in "… retry after 3s …" / "Retry-After: 3", the forms API servers use.
fn retry_hint(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("retry after").map(|i| i + "retry after".len());
    let at = at.or_else(|| lower.find("retry-after:").map(|i| i + "retry-after:".len()))?;
    let digits: String = lower[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, "TooManyRequests")
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        assert!(transient(&api_error(429, "")));
        assert!(transient(&api_error(503, "")));
        assert!(!transient(&api_error(404, "")));
        assert!(!transient(&api_error(409, "")));
    }

    #[test]
    fn a_retry_hint_sets_the_pause() {
        let e = api_error(429, "the server is busy, retry after 3s");
        assert_eq!(pause(1, &e), Duration::from_secs(3));
        assert_eq!(pause(1, &api_error(503, "")), Duration::from_millis(200));
        assert_eq!(pause(9, &api_error(503, "")), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_call_is_retried_until_it_succeeds() {
        let mut calls = 0;
        let result = retrying(|| {
            calls += 1;
            let answer = if calls < 3 {
                Err(api_error(500, "boom"))
            } else {
                Ok(calls)
            };
            async move { answer }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
    }
}
