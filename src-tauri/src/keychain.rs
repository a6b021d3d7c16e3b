//! The OS keychain (the Secret Service on Linux: GNOME Keyring, KWallet), where the tunnels'
//! secrets, the forward signing secret and the SMTP password can live instead of the environment. The desktop app's Settings write them; the
//! desktop app and `serve` read them when neither a flag nor the environment gives one. A
//! secret read here goes straight into a [`TunnelSecret`]: it is never logged, stored in the
//! database or the settings file, or sent back to the UI.
//!
//! Items carry the attributes `service=kyc-monitor` and `username=<name>`, so
//! `secret-tool store --label="KYC Monitor ngrok authtoken" service kyc-monitor username ngrok-authtoken`
//! fills one on a machine without the desktop app.

use crate::secret::TunnelSecret;

/// The keychain's service attribute for every item of ours.
pub const SERVICE: &str = "kyc-monitor";

/// The secrets the keychain may hold.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    ts_rs::TS,
)]
#[serde(rename_all = "kebab-case")]
#[ts(rename = "KeychainItem")]
pub enum Item {
    NgrokAuthtoken,
    BoreSecret,
    /// Signs what is forwarded to the user's backends (a `whsec_` secret).
    ForwardSigningSecret,
    /// The password of `--smtp-url`'s user, for alert emails.
    SmtpPassword,
}

impl Item {
    pub const ALL: [Item; 4] = [
        Item::NgrokAuthtoken,
        Item::BoreSecret,
        Item::ForwardSigningSecret,
        Item::SmtpPassword,
    ];

    /// The item's `username` attribute (and its name in the UI, by serde's kebab-case).
    pub fn name(self) -> &'static str {
        match self {
            Item::NgrokAuthtoken => "ngrok-authtoken",
            Item::BoreSecret => "bore-secret",
            Item::ForwardSigningSecret => "forward-signing-secret",
            Item::SmtpPassword => "smtp-password",
        }
    }
}

/// What the keychain holds for KYC Monitor: whether each secret is there, never what it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct KeychainStatus {
    pub available: bool,
    /// Why the keychain cannot be used here.
    pub reason: Option<String>,
    /// Per secret: stored or not; `None` when it could not be read.
    pub items: std::collections::BTreeMap<Item, Option<bool>>,
}

/// Asks the keychain which secrets it holds. Blocks on D-Bus: call it off the async workers.
pub fn status() -> KeychainStatus {
    if let Some(reason) = unavailable() {
        return KeychainStatus {
            available: false,
            reason: Some(reason),
            items: Default::default(),
        };
    }
    let mut reason = None;
    let items = Item::ALL
        .into_iter()
        .map(|item| {
            let stored = match get(item) {
                Ok(found) => Some(found.is_some()),
                Err(error) => {
                    reason.get_or_insert(error.to_string());
                    None
                }
            };
            (item, stored)
        })
        .collect();
    KeychainStatus {
        available: reason.is_none(),
        reason,
        items,
    }
}

/// Why the keychain cannot be used here, as a sentence; `None` when it can be tried.
pub fn unavailable() -> Option<String> {
    if !cfg!(feature = "keychain") {
        return Some(
            "this build has no keychain support (it was built without the keychain feature)".into(),
        );
    }
    // Without a session bus, libdbus would try to start one of its own (dbus-launch), which
    // outlives us; ask only when the session has a bus.
    let address_set = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty());
    let runtime_bus = std::env::var_os("XDG_RUNTIME_DIR")
        .map(|dir| std::path::Path::new(&dir).join("bus"))
        .is_some_and(|bus| bus.exists());
    if !address_set && !runtime_bus {
        return Some("there is no D-Bus session here (DBUS_SESSION_BUS_ADDRESS is not set), so no Secret Service".into());
    }
    None
}

/// Why the keychain could not do what was asked, in a sentence (never naming a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeychainError(pub String);

/// The stored secret, `None` when there is none (or no keychain: `Err` says why).
pub fn get(item: Item) -> Result<Option<TunnelSecret>, KeychainError> {
    if let Some(reason) = unavailable() {
        return Err(KeychainError(reason));
    }
    store::get(item).map_err(KeychainError)
}

/// Keeps `value` as `item`, replacing what was there.
pub fn set(item: Item, value: &str) -> Result<(), KeychainError> {
    if let Some(reason) = unavailable() {
        return Err(KeychainError(reason));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(KeychainError(format!(
            "the {} is empty: paste it, or remove the stored one",
            item_words(item)
        )));
    }
    if item == Item::ForwardSigningSecret {
        // Refused before it is kept, in words that never repeat it.
        value
            .parse::<crate::signature::SharedSecret>()
            .map_err(|e| KeychainError(format!("the forward signing secret: {e}")))?;
    }
    store::set(item, value).map_err(KeychainError)
}

/// Forgets `item`; `Ok(false)` when there was nothing to forget.
pub fn delete(item: Item) -> Result<bool, KeychainError> {
    if let Some(reason) = unavailable() {
        return Err(KeychainError(reason));
    }
    store::delete(item).map_err(KeychainError)
}

/// The `username` of the session the desktop app holds with a team monitor.
const TEAM_SESSION: &str = "team-session";

/// The team monitor session the desktop app signed in with, if it keeps one. It lives here
/// only: never in the settings file, the database, a log or the window.
pub fn team_session() -> Result<Option<crate::team_link::Bearer>, KeychainError> {
    if let Some(reason) = unavailable() {
        return Err(KeychainError(reason));
    }
    store::get_named(TEAM_SESSION)
        .map(|found| found.map(crate::team_link::Bearer::new))
        .map_err(KeychainError)
}

/// Keeps the team monitor session, replacing the one before.
pub fn set_team_session(session: &crate::team_link::Bearer) -> Result<(), KeychainError> {
    if let Some(reason) = unavailable() {
        return Err(KeychainError(format!(
            "the team monitor's session needs the keychain: {reason}"
        )));
    }
    store::set_named(TEAM_SESSION, session.expose(), "team monitor session").map_err(KeychainError)
}

/// Forgets the team monitor session; `Ok(false)` when there was none.
pub fn delete_team_session() -> Result<bool, KeychainError> {
    if let Some(reason) = unavailable() {
        return Err(KeychainError(reason));
    }
    store::delete_named(TEAM_SESSION).map_err(KeychainError)
}

fn item_words(item: Item) -> &'static str {
    match item {
        Item::NgrokAuthtoken => "ngrok authtoken",
        Item::BoreSecret => "bore secret",
        Item::ForwardSigningSecret => "forward signing secret",
        Item::SmtpPassword => "SMTP password",
    }
}

#[cfg(feature = "keychain")]
mod store {
    use super::{item_words, Item, SERVICE};
    use crate::secret::TunnelSecret;

    fn entry(item: Item) -> Result<keyring::Entry, String> {
        keyring::Entry::new(SERVICE, item.name()).map_err(|e| failure(item, "open", &e))
    }

    /// keyring's errors name the platform's problem (locked, no service); never the secret.
    fn failure(item: Item, doing: &str, error: &keyring::Error) -> String {
        format!(
            "cannot {doing} the {} in the keychain: {error}",
            item_words(item)
        )
    }

    pub(super) fn get(item: Item) -> Result<Option<TunnelSecret>, String> {
        match entry(item)?.get_password() {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(TunnelSecret::new(text.trim()))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(failure(item, "read", &error)),
        }
    }

    pub(super) fn set(item: Item, value: &str) -> Result<(), String> {
        let entry = entry(item)?;
        entry
            .set_password(value)
            .map_err(|e| failure(item, "keep", &e))?;
        // The label is what a keychain manager shows; failing to set it loses nothing.
        let label = format!("KYC Monitor: {}", item_words(item));
        let _ = entry.update_attributes(&std::collections::HashMap::from([(
            "label",
            label.as_str(),
        )]));
        Ok(())
    }

    pub(super) fn delete(item: Item) -> Result<bool, String> {
        match entry(item)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(error) => Err(failure(item, "remove", &error)),
        }
    }

    fn named(name: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(SERVICE, name)
            .map_err(|e| format!("cannot open the {name} in the keychain: {e}"))
    }

    pub(super) fn get_named(name: &str) -> Result<Option<String>, String> {
        match named(name)?.get_password() {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(text.trim().to_owned())),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(format!("cannot read the {name} in the keychain: {error}")),
        }
    }

    pub(super) fn set_named(name: &str, value: &str, words: &str) -> Result<(), String> {
        let entry = named(name)?;
        entry
            .set_password(value)
            .map_err(|e| format!("cannot keep the {words} in the keychain: {e}"))?;
        let label = format!("KYC Monitor: {words}");
        let _ = entry.update_attributes(&std::collections::HashMap::from([(
            "label",
            label.as_str(),
        )]));
        Ok(())
    }

    pub(super) fn delete_named(name: &str) -> Result<bool, String> {
        match named(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(error) => Err(format!("cannot remove the {name} in the keychain: {error}")),
        }
    }
}

#[cfg(not(feature = "keychain"))]
mod store {
    use super::Item;
    use crate::secret::TunnelSecret;

    // `unavailable()` answers first in this build; these are never reached.
    pub(super) fn get(_: Item) -> Result<Option<TunnelSecret>, String> {
        Ok(None)
    }
    pub(super) fn set(_: Item, _: &str) -> Result<(), String> {
        Err("this build has no keychain support".into())
    }
    pub(super) fn delete(_: Item) -> Result<bool, String> {
        Ok(false)
    }
    pub(super) fn get_named(_: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
    pub(super) fn set_named(_: &str, _: &str, _: &str) -> Result<(), String> {
        Err("this build has no keychain support".into())
    }
    pub(super) fn delete_named(_: &str) -> Result<bool, String> {
        Ok(false)
    }
}
