//! Read-only connections kept for reuse, each query run on the blocking pool: SQLite calls
//! never run on the async workers. At most [`MAX_READERS`] run at once (and so exist): a burst
//! of views asked for at once waits its turn instead of opening a connection and taking a
//! blocking thread each.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::store::{Reader, Store, StoreError};

/// Reads running at once, and connections kept.
pub const MAX_READERS: usize = 8;

pub struct ReaderPool {
    store: Store,
    idle: Mutex<Vec<Reader>>,
    turns: Arc<Semaphore>,
}

impl ReaderPool {
    pub fn new(store: Store) -> ReaderPool {
        ReaderPool {
            store,
            idle: Mutex::new(Vec::new()),
            turns: Arc::new(Semaphore::new(MAX_READERS)),
        }
    }

    /// Runs `query` on a pooled connection, off the async workers.
    pub async fn read<T, E>(
        self: &Arc<Self>,
        query: impl FnOnce(&Reader) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .expect("the reader pool's semaphore is never closed");
        let pool = self.clone();
        crate::blocking::off_worker(move || {
            let pooled = pool.idle.lock().expect("reader pool").pop();
            let reader = match pooled {
                Some(reader) => reader,
                None => pool.store.reader()?,
            };
            let result = query(&reader);
            pool.idle.lock().expect("reader pool").push(reader);
            drop(turn);
            result
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_the_bound_read_at_once_and_connections_are_reused() {
        let folder = tempfile::tempdir().unwrap();
        let pool = Arc::new(ReaderPool::new(
            Store::open(&folder.path().join("k.db")).unwrap(),
        ));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let reads: Vec<_> = (0..40)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.read(move |reader| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        let found = reader.user_total();
                        // Long enough for the others to pile up behind the bound.
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        found
                    })
                    .await
                })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap().unwrap(), 0);
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            (2..=MAX_READERS).contains(&most),
            "{most} reads ran at once"
        );
        assert!(pool.idle.lock().unwrap().len() <= MAX_READERS);
    }
}
