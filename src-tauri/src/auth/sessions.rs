//! Team sessions: a random 32-byte secret in an `HttpOnly` cookie, kept in the database only as
//! its SHA-256 (written through the one writer), found again through the reader pool and a
//! small cache that every ending clears. Sessions expire after `--session-idle` without a
//! request and 7 days after sign-in whatever their use. The CSRF token is derived from the
//! secret, so neither is ever stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::access::{Actor, Role};
use crate::config::team::SESSION_ABSOLUTE;
use crate::monitor::readers::ReaderPool;
use crate::store::{SessionRecord, StoreError, Writer};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "kyc_monitor_session";
/// A session's last use is written at most this often (the cache knows it to the request).
const TOUCH_EVERY_MILLIS: i64 = 60_000;
/// Sessions kept in the cache; past this it starts again empty (the database still knows them).
const CACHE_LIMIT: usize = 10_000;

/// The secret a session cookie carries. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SessionSecret([u8; 32]);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(redacted)")
    }
}

impl SessionSecret {
    fn new() -> SessionSecret {
        SessionSecret(crate::random::bytes())
    }

    /// The secret from a cookie's value, when it is one this monitor could have made.
    pub fn from_cookie(value: &str) -> Option<SessionSecret> {
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        Some(SessionSecret(bytes.try_into().ok()?))
    }

    /// The session cookie's value.
    pub fn cookie_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// What the database keeps: the secret's SHA-256.
    pub fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// The session's CSRF token: an HMAC of a fixed label under the secret, so it reveals
    /// nothing of the secret and needs no storing.
    pub fn csrf_token(&self) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(b"kyc-monitor csrf token");
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Secure` when `secure`; `max_age` in
/// seconds (0 removes the cookie).
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
    secure: bool,
) -> HeaderValue {
    let mut text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).expect("cookie values are base64url")
}

struct Cached {
    actor: Actor,
    created_at: i64,
    last_seen_at: i64,
    /// When `last_seen_at` was last written to the database.
    written_at: i64,
}

/// The sessions of a team monitor.
pub struct Sessions {
    readers: Arc<ReaderPool>,
    writer: Arc<Writer>,
    idle_millis: i64,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    /// Counts endings: a lookup that began before one does not fill the cache with what it read.
    endings: AtomicU64,
    /// Tells open live feeds which sessions ended, so that they end with them.
    ended: broadcast::Sender<Ended>,
}

/// A session, or all of a person's, ended (sign-out, or an admin ended them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Session([u8; 32]),
    User(String),
}

impl Ended {
    /// Whether this ending is that of the session `secret`, held by `user`.
    pub fn ends(&self, secret: &SessionSecret, user: &str) -> bool {
        match self {
            Ended::Session(id_hash) => *id_hash == secret.id_hash(),
            Ended::User(ended) => ended == user,
        }
    }
}

impl Sessions {
    pub fn new(readers: Arc<ReaderPool>, writer: Arc<Writer>, idle: Duration) -> Sessions {
        Sessions {
            readers,
            writer,
            idle_millis: idle.as_millis() as i64,
            cache: Mutex::new(HashMap::new()),
            endings: AtomicU64::new(0),
            ended: broadcast::channel(64).0,
        }
    }

    /// The sessions that end from now on.
    pub fn endings(&self) -> broadcast::Receiver<Ended> {
        self.ended.subscribe()
    }

    fn absolute_millis() -> i64 {
        SESSION_ABSOLUTE.as_millis() as i64
    }

    /// Starts a session for `actor`; returns the secret for its cookie.
    pub async fn start(&self, actor: &Actor) -> Result<SessionSecret, StoreError> {
        let secret = SessionSecret::new();
        let now = crate::time::now_millis();
        self.writer
            .start_session(
                SessionRecord {
                    id_hash: secret.id_hash(),
                    user: actor.id.clone(),
                    name: actor.name.clone(),
                    role: actor.role.as_str().to_owned(),
                    created_at: now,
                    last_seen_at: now,
                    ended_at: None,
                },
                Self::absolute_millis(),
            )
            .await?;
        Ok(secret)
    }

    /// The person signed in with `secret`, while the session lasts; notes its use.
    pub async fn resolve(&self, secret: &SessionSecret) -> Result<Option<Actor>, StoreError> {
        let id_hash = secret.id_hash();
        let now = crate::time::now_millis();
        let touch_every = TOUCH_EVERY_MILLIS.min(self.idle_millis / 2).max(1);
        let cached = {
            let mut cache = self.cache.lock().expect("session cache");
            match cache.get_mut(&id_hash) {
                Some(entry) if self.lasts(entry.created_at, entry.last_seen_at, now) => {
                    entry.last_seen_at = now;
                    let write = now - entry.written_at >= touch_every;
                    if write {
                        entry.written_at = now;
                    }
                    Some((entry.actor.clone(), write))
                }
                Some(_) => {
                    cache.remove(&id_hash);
                    return Ok(None);
                }
                None => None,
            }
        };
        if let Some((actor, write)) = cached {
            if write {
                let writer = self.writer.clone();
                tokio::spawn(async move {
                    if let Err(error) = writer.touch_session(id_hash, now).await {
                        tracing::warn!(%error, "a session's last use could not be written");
                    }
                });
            }
            return Ok(Some(actor));
        }
        let endings = self.endings.load(Ordering::SeqCst);
        let Some(record) = self
            .readers
            .read(move |reader| reader.session(&id_hash))
            .await?
        else {
            return Ok(None);
        };
        let role = record.role.parse::<Role>().ok();
        let (Some(role), None) = (role, record.ended_at) else {
            return Ok(None);
        };
        if !self.lasts(record.created_at, record.last_seen_at, now) {
            return Ok(None);
        }
        let actor = Actor {
            id: record.user,
            name: record.name,
            role,
        };
        let mut cache = self.cache.lock().expect("session cache");
        if self.endings.load(Ordering::SeqCst) == endings {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(
                id_hash,
                Cached {
                    actor: actor.clone(),
                    created_at: record.created_at,
                    last_seen_at: now,
                    written_at: record.last_seen_at,
                },
            );
        }
        Ok(Some(actor))
    }

    fn lasts(&self, created_at: i64, last_seen_at: i64, now: i64) -> bool {
        now - last_seen_at < self.idle_millis && now - created_at < Self::absolute_millis()
    }

    /// Ends the session of `secret` (sign-out).
    pub async fn end(&self, secret: &SessionSecret) -> Result<(), StoreError> {
        let id_hash = secret.id_hash();
        self.forget(|hash, _| *hash == id_hash);
        self.writer
            .end_session(id_hash, crate::time::now_millis())
            .await?;
        // No feed open is fine: nobody is told.
        let _ = self.ended.send(Ended::Session(id_hash));
        Ok(())
    }

    /// Ends every session of `user`; returns how many were open.
    pub async fn end_user(&self, user: &str) -> Result<usize, StoreError> {
        self.forget(|_, cached| cached.actor.id == user);
        let ended = self
            .writer
            .end_user_sessions(user, crate::time::now_millis())
            .await?;
        let _ = self.ended.send(Ended::User(user.to_owned()));
        Ok(ended)
    }

    fn forget(&self, which: impl Fn(&[u8; 32], &Cached) -> bool) {
        self.endings.fetch_add(1, Ordering::SeqCst);
        self.cache
            .lock()
            .expect("session cache")
            .retain(|hash, cached| !which(hash, cached));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_gives_back_its_secret_and_the_csrf_token_is_not_the_secret() {
        let secret = SessionSecret::new();
        let again = SessionSecret::from_cookie(&secret.cookie_value()).unwrap();
        assert_eq!(again.id_hash(), secret.id_hash());
        assert_eq!(again.csrf_token(), secret.csrf_token());
        assert_ne!(secret.csrf_token(), secret.cookie_value());
        assert_ne!(SessionSecret::new().csrf_token(), secret.csrf_token());
        assert!(SessionSecret::from_cookie("short").is_none());
        assert!(!format!("{secret:?}").contains(&secret.cookie_value()));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kyc_monitor_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        let set = set_cookie(SESSION_COOKIE, "abc", "/", None, true);
        assert_eq!(
            set.to_str().unwrap(),
            "kyc_monitor_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
