//! How errors read when a test fails on them.
//!
//! A test that fails on `.unwrap()` or `.expect()` prints the error with `{:?}`. Derived `Debug`
//! prints the nested structure (`Cluster(File(Field { path: …, node: NodeRef { … } }))`), which
//! says less than the message. Every public error of ducttape implements `Debug` with
//! [`human_debug!`](crate::human_debug) instead: the message, then its causes, one per line, as
//! anyhow prints an error — what a test author needs to see.

use std::fmt;

/// Writes `error` and its chain of causes: `message`, then `Caused by:` and one numbered line
/// per cause. A cause whose text the lines above already contain (a message that embeds its
/// source) is left out.
///
/// ```
/// use std::fmt;
/// #[derive(thiserror::Error)]
/// #[error("cannot read the cluster file")]
/// struct Outer(#[source] std::io::Error);
/// ducttape_core::human_debug!(Outer);
///
/// let e = Outer(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
/// assert_eq!(format!("{e:?}"), "cannot read the cluster file\n\nCaused by:\n    0: no such file");
/// ```
pub fn write_chain(f: &mut fmt::Formatter<'_>, error: &dyn std::error::Error) -> fmt::Result {
    let mut written = error.to_string();
    f.write_str(&written)?;
    let mut source = error.source();
    let mut index = 0;
    while let Some(cause) = source {
        let text = cause.to_string();
        if !written.contains(&text) {
            if index == 0 {
                f.write_str("\n\nCaused by:")?;
            }
            write!(f, "\n    {index}: {text}")?;
            written.push('\n');
            written.push_str(&text);
            index += 1;
        }
        source = cause.source();
    }
    Ok(())
}

/// Implements `Debug` for error types as their message and causes (see [`write_chain`]).
/// Use it instead of `#[derive(Debug)]` on a public error type.
#[macro_export]
macro_rules! human_debug {
    ($($error:ty),+ $(,)?) => {
        $(
            impl ::std::fmt::Debug for $error {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    $crate::errors::write_chain(f, self)
                }
            }
        )+
    };
}

/// Any error of ducttape-core, for code that meets several: `?` converts each into it, and it
/// prints as its part does. Functions here return their own precise error (a
/// [`RemoteError`](crate::remote::RemoteError) names the node, command, exit status and output
/// tail); this is for their callers.
///
/// ```no_run
/// # async fn demo(ctx: &ducttape_core::TestContext) -> ducttape_core::Result<()> {
/// let nodes = ctx.lease(1).await?;                       // ContextError
/// nodes[0].account().ssh("mkdir -p /mnt/data").await?;   // RemoteError
/// # Ok(()) }
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up a test: results, the cluster, leases.
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
    /// The cluster source.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// Leasing nodes.
    #[error(transparent)]
    Lease(#[from] crate::cluster::LeaseError),
    /// Cleaning nodes when a lease ended.
    #[error(transparent)]
    Release(#[from] crate::cluster::ReleaseError),
    /// A command or file operation on a node.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    /// Waiting for a log line.
    #[error(transparent)]
    LogWait(#[from] crate::remote::LogWaitError),
    /// A condition that did not come true in time.
    #[error(transparent)]
    Wait(#[from] crate::wait::WaitError),
    /// A teardown step.
    #[error(transparent)]
    Teardown(#[from] crate::context::TeardownError),
    /// Comparing runs.
    #[error(transparent)]
    Compare(#[from] crate::report::compare::CompareError),
}

crate::human_debug!(Error);

/// `Result` with ducttape-core's [`Error`] by default; `Result<T, E>` names another.
pub type Result<T, E = Error> = std::result::Result<T, E>;
