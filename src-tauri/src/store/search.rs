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

/// How many users the index may hand over for one search before they are checked and ranked.
const CANDIDATES: u32 = 500;

/// The characters people type for one another in an id: `USER-4821`, `user 4821`, `user.4821`
/// and `user_4821` name the same user.
fn is_separator(c: char) -> bool {
    matches!(c, '-' | '_' | '.') || c.is_whitespace()
}

/// `text` as search compares it: lower case, each run of separators one `_`.
pub fn folded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_separator = false;
    for c in text.chars() {
        if is_separator(c) {
            if !in_separator {
                out.push('_');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

/// An FTS5 phrase that matches `text` as a substring.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

impl Reader {
    /// Users matching what a person typed: pasted whitespace around it ignored, `-`, `_`, `.`
    /// and spaces taken for one another, any case, anywhere in the externalId, participantId or
    /// account. Ranked: the externalId exactly (but for case and separators), then externalIds
    /// starting with the text, then the rest; at most `limit`.
    pub fn search_users(&self, text: &str, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let key = folded(text);
        let parts: Vec<&str> = text.split(is_separator).filter(|p| !p.is_empty()).collect();
        let mut candidates = Vec::new();
        // The exact id in the spellings people use, so it ranks first however many others match.
        for separator in ["_", "-", ".", " "] {
            let joined = parts.join(separator);
            for spelling in [joined.clone(), joined.to_lowercase(), joined.to_uppercase()] {
                candidates.extend(self.user(&spelling)?);
            }
        }
        candidates.extend(self.user(text)?);
        candidates.extend(self.users_with_prefix(text, limit)?);
        if text.chars().count() >= SHORTEST_SUBSTRING {
            let long: Vec<&&str> = parts
                .iter()
                .filter(|p| p.chars().count() >= SHORTEST_SUBSTRING)
                .collect();
            // Parts long enough for trigrams must all be there (checked below for their
            // separators); else the whole text with each separator in place of the typed ones.
            let expression = if long.is_empty() {
                ["_", "-", ".", " "]
                    .iter()
                    .map(|separator| phrase(&parts.join(separator)))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            } else {
                long.iter()
                    .map(|part| phrase(part))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            candidates.extend(
                self.connection()
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE external_id IN (
                           SELECT ids.external_id FROM user_search
                             JOIN user_search_ids AS ids ON ids.id = user_search.rowid
                            WHERE user_search MATCH ?1 LIMIT ?2)"
                    ))?
                    .query_map(rusqlite::params![expression, CANDIDATES], user_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            );
        }
        // The exact id, then ids starting with the text, then the rest; within each, those
        // starting with it as typed first, then by the id as compared (any spelling, one order).
        let rank = |user: &UserRecord| {
            let id = folded(&user.external_id);
            let tier = if id == key {
                0
            } else if id.starts_with(&key) {
                1
            } else {
                2
            };
            (tier, !user.external_id.starts_with(text), id)
        };
        let mut found: Vec<UserRecord> = candidates
            .into_iter()
            .filter(|user| {
                [
                    &user.external_id,
                    &user.state.participant_id,
                    &user.state.account,
                ]
                .iter()
                .any(|field| folded(field).contains(&key))
            })
            .collect();
        found.sort_by_cached_key(|user| (rank(user), user.external_id.clone()));
        found.dedup_by(|a, b| a.external_id == b.external_id);
        found.truncate(limit as usize);
        Ok(found)
    }
}
