//! Waiting for a condition with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// A condition did not become true in time.
#[derive(thiserror::Error)]
#[error("timed out after {waited:?} waiting until {what}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
pub struct WaitError {
    /// What was being waited for.
    pub what: String,
    /// How long we waited.
    pub waited: Duration,
    /// The last error the condition reported, if it reported one.
    pub last_error: Option<String>,
}

crate::human_debug!(WaitError);

/// What a condition of [`wait_until`] answers: `bool` (done or not), or `Option<T>` (found
/// `T` or not yet), so the wait can return what it found.
pub trait Found {
    /// What the wait returns: `()` for `bool`, `T` for `Option<T>`.
    type Value;
    /// `Some` when the condition holds.
    fn found(self) -> Option<Self::Value>;
}

impl Found for bool {
    type Value = ();
    fn found(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Found for Option<T> {
    type Value = T;
    fn found(self) -> Option<T> {
        self
    }
}

/// Polls `condition` every `backoff` until it holds or `timeout` passes, and returns what it
/// found: a condition answers `Ok(true)`/`Ok(false)`, or `Ok(Some(value))`/`Ok(None)` and the
/// wait returns that value (the new leader, the count reached…).
///
/// Errors from the condition are remembered (the last one goes into the [`WaitError`]) and
/// polling continues: a service that is not up yet often answers with an error.
/// Prefer a streaming wait (a log monitor, a port) where one exists; this is for state that
/// can only be polled.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use ducttape_core::wait_until;
/// let mut n = 0;
/// wait_until("n reaches 3", Duration::from_secs(1), Duration::from_millis(1), || {
///     n += 1;
///     let done = n >= 3;
///     async move { Ok::<_, std::io::Error>(done) }
/// }).await.unwrap();
///
/// // Returning what was found: the first even number past 6.
/// let mut m = 5;
/// let even = wait_until("an even number past 6", Duration::from_secs(1), Duration::from_millis(1), || {
///     m += 1;
///     let found = (m > 6 && m % 2 == 0).then_some(m);
///     async move { Ok::<_, std::io::Error>(found) }
/// }).await.unwrap();
/// assert_eq!(even, 8);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn wait_until<F, Fut, C, E>(
    what: &str,
    timeout: Duration,
    backoff: Duration,
    mut condition: F,
) -> Result<C::Value, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<C, E>>,
    C: Found,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        match tokio::time::timeout(remaining, condition()).await {
            Ok(Ok(answer)) => {
                if let Some(value) = answer.found() {
                    return Ok(value);
                }
            }
            Ok(Err(e)) => last_error = Some(e.to_string()),
            Err(_) => {
                // The answer before it still says why the condition did not hold.
                let before = last_error
                    .take()
                    .map(|e| format!("; the one before: {e}"))
                    .unwrap_or_default();
                last_error = Some(format!(
                    "the last check was still running when the time ran out{before}"
                ))
            }
        }
        if start.elapsed() + backoff > timeout {
            return Err(WaitError {
                what: what.to_string(),
                waited: start.elapsed(),
                last_error,
            });
        }
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn times_out_with_last_error() {
        let err = wait_until(
            "never",
            Duration::from_millis(50),
            Duration::from_millis(5),
            || async { Err::<bool, _>("still down") },
        )
        .await
        .unwrap_err();
        assert_eq!(err.what, "never");
        assert_eq!(err.last_error.as_deref(), Some("still down"));
        assert!(err.to_string().contains("still down"));
    }

    #[tokio::test]
    async fn a_check_running_out_of_time_keeps_the_answer_before() {
        let mut n = 0;
        let err = wait_until(
            "never",
            Duration::from_millis(200),
            Duration::from_millis(1),
            || {
                n += 1;
                let first = n == 1;
                async move {
                    if !first {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    Err::<bool, _>("voters {1}")
                }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.last_error.as_deref(),
            Some("the last check was still running when the time ran out; the one before: voters {1}")
        );
    }
}
