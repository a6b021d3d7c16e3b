//! File and SQLite work called from async code runs here, on the blocking pool, so that it never
//! holds up an async worker (and the deliveries it is answering).

/// Runs `work` on the blocking pool and waits for it; a panic in it goes on in the caller.
/// Work the runtime cancelled (it is shutting down, so the caller is about to be dropped too)
/// leaves the caller waiting for that drop rather than panicking.
pub async fn off_worker<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        Err(_) => std::future::pending().await,
    }
}
