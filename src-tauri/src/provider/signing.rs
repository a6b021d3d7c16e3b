//! Which signing secret a registration uses, and keeping it in the secret file off the async
//! workers.

use std::path::Path;

use crate::blocking::off_worker;
use crate::secret_file::{self, SecretFileError, SecretSet};
use crate::signature::SigningSecret;

/// Which signing secret a registration gives the provider and the listener then requires.
#[derive(Debug, Clone)]
pub enum Signing {
    /// The documented form, `{"webhookUrl"}`: deliveries come unsigned, so once validated none
    /// is required (a stored secret is removed).
    Unsigned,
    /// The secret already stored for this database, sent again.
    Keep,
    /// A fresh `whsec_` secret, made for this registration.
    New,
    /// A secret the partner chose; a `whpk_` public key is kept for the listener only (the
    /// provider signs with its own private key, so the documented form is registered).
    Given(SigningSecret),
}

impl Signing {
    /// What a registration that names no signing does: keeps the stored secret if there is
    /// one, so that the provider and the listener stay in agreement.
    pub fn keep_stored(db: &Path) -> Result<Signing, SecretFileError> {
        Ok(match secret_file::load(db)? {
            Some(_) => Signing::Keep,
            None => Signing::Unsigned,
        })
    }
}

/// [`secret_file::store`], off the async workers.
pub(super) async fn store_secret(
    db: &Path,
    secrets: Option<SecretSet>,
) -> Result<(), SecretFileError> {
    let db = db.to_owned();
    off_worker(move || secret_file::store(&db, secrets.as_ref())).await
}

/// [`Signing::keep_stored`], off the async workers.
pub(super) async fn keep_stored_signing(db: &Path) -> Result<Signing, SecretFileError> {
    let db = db.to_owned();
    off_worker(move || Signing::keep_stored(&db)).await
}
