//! Whose certificates the monitor trusts when it connects out over TLS, and how a refusal is
//! said. Every outgoing connection (alert targets and emails, forwarding, the provider's API,
//! OIDC, the team link) trusts two sets of roots: the operating system's store (where a firm
//! installs its internal CA; `SSL_CERT_FILE` and `SSL_CERT_DIR`, when set, replace it, as they do
//! for OpenSSL; read by rustls-native-certs) and Mozilla's roots built in (webpki-roots, so a
//! machine without a CA bundle still reaches public hosts).
//!
//! The HTTPS clients get both from reqwest's `rustls-tls-native-roots` and
//! `rustls-tls-webpki-roots` features (Cargo.toml), which load both into one root store when a
//! client is built, that is when the monitor starts. Alert emails go through lettre and add the
//! system's roots to Mozilla's themselves, at each send (`alerts/email.rs`).

use std::error::Error;

/// Builds an HTTPS client from `builder` (called twice if need be) trusting both sets of roots.
/// reqwest refuses to build one when the system's store holds certificates but no usable root;
/// then the client trusts Mozilla's alone, and says so in the log, rather than not starting.
pub fn https_client(
    builder: impl Fn() -> reqwest::ClientBuilder,
) -> reqwest::Result<reqwest::Client> {
    builder().build().or_else(|error| {
        tracing::warn!(
            %error,
            "the system's certificate store has no usable root: only Mozilla's roots are trusted"
        );
        builder().tls_built_in_native_certs(false).build()
    })
}

/// Where a server's certificate must chain to, as the failures say it.
pub const TRUSTED_ROOTS: &str = "a root in the system's certificate store (SSL_CERT_FILE or \
                                 SSL_CERT_DIR when set) or Mozilla's roots";

/// The TLS library's own error somewhere under `error`. reqwest, hyper and lettre wrap it, in
/// an `io::Error` (sometimes in another one) whose `source()` skips what it holds: the walk goes
/// into what an `io::Error` holds rather than to its source.
pub fn rustls_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => current.source(),
        };
    }
    None
}

/// A TLS failure in words, for a server already named by the caller: a certificate that does not
/// verify says "its certificate is not trusted (why): it must chain to …"; any other TLS error
/// says "TLS failed (…)".
pub fn tls_failure(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(why) => {
            let why = match why {
                rustls::CertificateError::UnknownIssuer => {
                    "it is not signed by an authority this machine trusts".to_owned()
                }
                other => other.to_string(),
            };
            format!("its certificate is not trusted ({why}): it must chain to {TRUSTED_ROOTS}")
        }
        other => format!("TLS failed ({other})"),
    }
}

/// [`tls_failure`] for an HTTPS request's error; `None` when TLS is not what failed.
pub fn https_failure(error: &reqwest::Error) -> Option<String> {
    rustls_error(error).map(tls_failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_issuer_is_said_plainly_and_names_the_roots() {
        let text = tls_failure(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(text.starts_with(
            "its certificate is not trusted (it is not signed by an authority this machine trusts)"
        ));
        assert!(text.contains("SSL_CERT_FILE") && text.contains("Mozilla"));
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert!(matches!(
            rustls_error(&wrapped),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))
        ));
        // As reqwest's connector hands it over: an io::Error in another one.
        let nested = std::io::Error::other(wrapped);
        assert!(matches!(
            rustls_error(&nested),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))
        ));
        assert!(rustls_error(&std::io::Error::other("refused")).is_none());
    }
}
