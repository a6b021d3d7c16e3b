//! The small writes beside the deliveries: settings (never secrets) and registration attempts.
//! Like every write, they go through the one writer connection.

use rusqlite::Connection;

use super::{RegistrationAttempt, StoreError, Writer, UI_TOKEN_SETTING};

/// Where a running monitor's UI listens (`ADDR:PORT`), for the CLI to ask it; absent while
/// no monitor runs, or its UI is off.
pub const UI_ADDRESS_SETTING: &str = "ui_address";

impl Writer {
    /// Sets a setting, replacing its value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |tx| set_setting(tx, &key, &value)).await
    }

    /// Removes a setting, if it was set.
    pub async fn remove_setting(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM settings WHERE key = ?1", [key])
                .map(drop)
        })
        .await
    }

    /// The secret part of the webhook path: made once, then the same on every start.
    pub async fn webhook_token(&self) -> Result<String, StoreError> {
        self.kept_token("webhook_token", 24).await
    }

    /// The local UI's token: made once and kept, so that an open page and a bookmarked `ui:`
    /// link survive a restart; replaced only when the user asks for a new link.
    pub async fn ui_token(&self) -> Result<String, StoreError> {
        self.kept_token(UI_TOKEN_SETTING, 16).await
    }

    /// This database's own id, made once: it names the deliveries its monitor forwards, so
    /// that one coming back (a loop) is recognised.
    pub async fn instance_id(&self) -> Result<String, StoreError> {
        self.kept_token("instance_id", 8).await
    }

    /// The value kept under `key`, made (`bytes` random bytes, hex) the first time.
    async fn kept_token(&self, key: &'static str, bytes: usize) -> Result<String, StoreError> {
        let made = crate::random::hex_token(bytes);
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
                [key, &made],
            )?;
            tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
        })
        .await
    }

    /// Keeps one registration attempt; returns its id.
    pub async fn record_registration(
        &self,
        attempt: &RegistrationAttempt,
    ) -> Result<i64, StoreError> {
        let attempt = attempt.clone();
        self.write(move |tx| record_registration(tx, &attempt))
            .await
    }
}

fn set_setting(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

fn record_registration(conn: &Connection, attempt: &RegistrationAttempt) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO registrations
           (attempted_at, webhook_url, form, api_base, client_id, validated, message, http_status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(rusqlite::params![
        attempt.attempted_at,
        attempt.webhook_url,
        attempt.form,
        attempt.api_base,
        attempt.client_id,
        attempt.validated,
        attempt.message,
        attempt.http_status,
    ])?;
    Ok(conn.last_insert_rowid())
}
