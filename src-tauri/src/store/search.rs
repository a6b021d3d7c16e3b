//! Search anywhere in a user's externalId, participantId and account, case-insensitively: an
//! FTS5 index with the trigram tokenizer, kept by triggers on `users` (so the projector does not
//! know it exists). `users` has no rowid, so `user_search_ids` gives each user the integer key
//! the index needs.
//!
//! A rebuild swaps in a fresh `users` table, and the triggers go with the one it drops: the
//! swap's transaction must run [`SEARCH_TRIGGERS`] again (the index itself stays right, as a
//! rebuild derives the same users), and every open of the store runs it too (a no-op while the
//! triggers are there).

use super::queries::{user_from_row, USER_COLUMNS};
use super::{Reader, StoreError, UserRecord};

/// The index, filled from the users there are (migration 6 runs this, then the triggers).
macro_rules! search_tables {
    () => {
        r#"
    CREATE TABLE user_search_ids (
        id          INTEGER PRIMARY KEY,
        external_id TEXT NOT NULL UNIQUE
    ) STRICT;
    CREATE VIRTUAL TABLE user_search USING fts5 (
        external_id, participant_id, account,
        content = '', contentless_delete = 1, tokenize = 'trigram'
    );
    INSERT INTO user_search (user_search, rank) VALUES ('automerge', 16);
    INSERT INTO user_search_ids (external_id) SELECT external_id FROM users;
    INSERT INTO user_search (rowid, external_id, participant_id, account)
        SELECT ids.id, users.external_id, users.participant_id, users.account
          FROM users JOIN user_search_ids AS ids USING (external_id);
"#
    };
}
pub(super) use search_tables;

/// The triggers that keep the index: a new user, ids that change (on approval), a user gone.
macro_rules! search_triggers {
    () => {
        r#"
    DROP TRIGGER IF EXISTS users_search_insert;
    DROP TRIGGER IF EXISTS users_search_update;
    DROP TRIGGER IF EXISTS users_search_delete;
    CREATE TRIGGER IF NOT EXISTS users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO user_search_ids (external_id) VALUES (new.external_id);
        INSERT INTO user_search (rowid, external_id, participant_id, account)
            VALUES (last_insert_rowid(), new.external_id, new.participant_id, new.account);
    END;
    CREATE TRIGGER IF NOT EXISTS users_search_update AFTER UPDATE OF participant_id, account ON users
        WHEN new.participant_id IS NOT old.participant_id OR new.account IS NOT old.account
    BEGIN
        DELETE FROM user_search
         WHERE rowid = (SELECT id FROM user_search_ids WHERE external_id = old.external_id);
        INSERT INTO user_search (rowid, external_id, participant_id, account)
            SELECT id, new.external_id, new.participant_id, new.account
              FROM user_search_ids WHERE external_id = new.external_id;
    END;
    CREATE TRIGGER IF NOT EXISTS users_search_delete AFTER DELETE ON users BEGIN
        DELETE FROM user_search
         WHERE rowid = (SELECT id FROM user_search_ids WHERE external_id = old.external_id);
        DELETE FROM user_search_ids WHERE external_id = old.external_id;
    END;
"#
    };
}
pub(super) use search_triggers;

/// What a rebuild's swap runs after it renamed the fresh `users` in, and every open (each
/// trigger is made only if it is missing).
pub const SEARCH_TRIGGERS: &str = search_triggers!();

/// Trigrams: a query shorter than this can only be a prefix of the externalId.
const SHORTEST_SUBSTRING: usize = 3;

impl Reader {
    /// Users whose externalId starts with `text` (those first, in externalId order), then users
    /// with `text` anywhere in their externalId, participantId or account, ignoring case; at
    /// most `limit`.
    pub fn search_users(&self, text: &str, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
        let mut found = self.users_with_prefix(text, limit)?;
        if text.chars().count() < SHORTEST_SUBSTRING || found.len() >= limit as usize {
            return Ok(found);
        }
        // One phrase: the trigram tokenizer matches it as a substring.
        let phrase = format!("\"{}\"", text.replace('"', "\"\""));
        let anywhere = self
            .connection()
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE external_id IN (
                   SELECT ids.external_id FROM user_search
                     JOIN user_search_ids AS ids ON ids.id = user_search.rowid
                    WHERE user_search MATCH ?1 LIMIT ?2)"
            ))?
            .query_map(rusqlite::params![phrase, limit * 2], user_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut anywhere: Vec<_> = anywhere
            .into_iter()
            .filter(|user| !found.iter().any(|f| f.external_id == user.external_id))
            .collect();
        anywhere.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        found.extend(anywhere);
        found.truncate(limit as usize);
        Ok(found)
    }
}
