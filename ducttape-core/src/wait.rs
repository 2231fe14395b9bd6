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

/// Polls `condition` every `backoff` until it returns `Ok(true)` or `timeout` passes.
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
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn wait_until<F, Fut, E>(
    what: &str,
    timeout: Duration,
    backoff: Duration,
    mut condition: F,
) -> Result<(), WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        match tokio::time::timeout(remaining, condition()).await {
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => last_error = Some(e.to_string()),
            Err(_) => {
                last_error = Some("the last check was still running when the time ran out".into())
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
}
