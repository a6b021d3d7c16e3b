//! The small writes beside the deliveries: settings (never secrets) and registration attempts.
//! Like every write, they go through the one writer connection.

use rusqlite::Connection;

use super::{RegistrationAttempt, StoreError, Writer};

impl Writer {
    /// Sets a setting, replacing its value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |tx| set_setting(tx, &key, &value)).await
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
