//! Read-only connections kept for reuse, each query run on the blocking pool: SQLite calls
//! never run on the async workers.

use std::sync::{Arc, Mutex};

use crate::store::{Reader, Store, StoreError};

pub struct ReaderPool {
    store: Store,
    idle: Mutex<Vec<Reader>>,
}

impl ReaderPool {
    pub fn new(store: Store) -> ReaderPool {
        ReaderPool {
            store,
            idle: Mutex::new(Vec::new()),
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
        let pool = self.clone();
        crate::blocking::off_worker(move || {
            let pooled = pool.idle.lock().expect("reader pool").pop();
            let reader = match pooled {
                Some(reader) => reader,
                None => pool.store.reader()?,
            };
            let result = query(&reader);
            pool.idle.lock().expect("reader pool").push(reader);
            result
        })
        .await
    }
}
