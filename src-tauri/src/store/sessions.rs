//! The team's sessions: a row per sign-in, found by the SHA-256 of the cookie's secret (the
//! secret itself is never stored). Writes go through the one writer; lookups through a reader.

use rusqlite::OptionalExtension;

use super::{Reader, StoreError, Writer};

/// Sessions that ended, or passed their absolute limit, this long ago are removed.
const KEEP_ENDED_MILLIS: i64 = 24 * 3600 * 1000;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: [u8; 32],
    pub user: String,
    pub name: String,
    /// The role's name, as `access::Role` spells it.
    pub role: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ended_at: Option<i64>,
}

impl Writer {
    /// Keeps a new session; sessions long over (ended, or past `absolute_millis`) are removed
    /// on the way, so the table stays the size of the team.
    pub async fn start_session(
        &self,
        session: SessionRecord,
        absolute_millis: i64,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            let now = session.created_at;
            tx.prepare_cached(
                "DELETE FROM sessions WHERE created_at < ?1 OR ended_at < ?2",
            )?
            .execute([now - absolute_millis - KEEP_ENDED_MILLIS, now - KEEP_ENDED_MILLIS])?;
            tx.prepare_cached(
                "INSERT INTO sessions (id_hash, user, name, role, created_at, last_seen_at, ended_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
            )?
            .execute(rusqlite::params![
                session.id_hash.as_slice(),
                session.user,
                session.name,
                session.role,
                session.created_at,
                session.last_seen_at,
            ])?;
            Ok(())
        })
        .await
    }

    /// Notes that a session was used at `at`.
    pub async fn touch_session(&self, id_hash: [u8; 32], at: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE id_hash = ?1",
            )?
            .execute(rusqlite::params![id_hash.as_slice(), at])?;
            Ok(())
        })
        .await
    }

    /// Ends one session (sign-out).
    pub async fn end_session(&self, id_hash: [u8; 32], at: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET ended_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL",
            )?
            .execute(rusqlite::params![id_hash.as_slice(), at])?;
            Ok(())
        })
        .await
    }

    /// Ends every open session of `user`; returns how many there were.
    pub async fn end_user_sessions(&self, user: &str, at: i64) -> Result<usize, StoreError> {
        let user = user.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE sessions SET ended_at = ?2 WHERE user = ?1 AND ended_at IS NULL",
            )?
            .execute(rusqlite::params![user, at])
        })
        .await
    }
}

impl Reader {
    /// The session whose cookie secret hashes to `id_hash`, ended or not.
    pub fn session(&self, id_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .connection()
            .prepare_cached(
                "SELECT user, name, role, created_at, last_seen_at, ended_at
                   FROM sessions WHERE id_hash = ?1",
            )?
            .query_row([id_hash.as_slice()], |row| {
                Ok(SessionRecord {
                    id_hash: *id_hash,
                    user: row.get(0)?,
                    name: row.get(1)?,
                    role: row.get(2)?,
                    created_at: row.get(3)?,
                    last_seen_at: row.get(4)?,
                    ended_at: row.get(5)?,
                })
            })
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn record(id: u8, user: &str, at: i64) -> SessionRecord {
        SessionRecord {
            id_hash: [id; 32],
            user: user.into(),
            name: user.into(),
            role: "admin".into(),
            created_at: at,
            last_seen_at: at,
            ended_at: None,
        }
    }

    #[tokio::test]
    async fn a_person_s_sessions_end_together_and_old_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let writer = store.start_writer().unwrap();
        let week = 7 * 24 * 3600 * 1000;
        writer
            .start_session(record(1, "bob", 1_000), week)
            .await
            .unwrap();
        writer
            .start_session(record(2, "bob", 2_000), week)
            .await
            .unwrap();
        writer
            .start_session(record(3, "alice", 3_000), week)
            .await
            .unwrap();
        writer.touch_session([3; 32], 9_000).await.unwrap();
        assert_eq!(writer.end_user_sessions("bob", 10_000).await.unwrap(), 2);
        let reader = store.reader().unwrap();
        assert_eq!(
            reader.session(&[1; 32]).unwrap().unwrap().ended_at,
            Some(10_000)
        );
        let alice = reader.session(&[3; 32]).unwrap().unwrap();
        assert_eq!((alice.ended_at, alice.last_seen_at), (None, 9_000));
        // A sign-in a long time later clears what is long over.
        let later = 10_000 + week + KEEP_ENDED_MILLIS + 1;
        writer
            .start_session(record(4, "carol", later), week)
            .await
            .unwrap();
        assert_eq!(reader.session(&[1; 32]).unwrap(), None);
        assert_eq!(reader.session(&[3; 32]).unwrap(), None);
        assert!(reader.session(&[4; 32]).unwrap().is_some());
        writer.finish().await;
    }
}
