//! Alert emails (`--alert-to mailto:ADDRESS`) through `--smtp-url smtp://USER@HOST:PORT` with
//! lettre: STARTTLS when the server offers it; a password (`KYC_MONITOR_SMTP_PASSWORD`, or the
//! keychain's `smtp-password` on the desktop) goes over plain SMTP only to a loopback host:
//! anywhere else STARTTLS is required and a server that does not offer it is not sent to.
//! `smtps://` speaks TLS from the first byte (port 465).
//!
//! The server's certificate must chain to a root this machine trusts: the operating system's
//! store (where a firm installs its internal CA; `SSL_CERT_FILE` and `SSL_CERT_DIR`, when set,
//! replace it, as they do for OpenSSL) or Mozilla's roots built in (webpki-roots, so a container
//! without a CA bundle still reaches a public relay). The roots are read at each send, so a CA
//! installed while the monitor runs counts. A certificate that does not verify stops the
//! conversation before AUTH: nothing is sent, and the failure says what is wrong with it (in
//! the words every HTTPS client uses, `crate::trust`).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::targets::{is_loopback, SendFailure};
use crate::secret::TunnelSecret;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// `--smtp-url` and its password, checked.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    host: String,
    port: u16,
    /// `smtps://`: TLS from the start.
    implicit_tls: bool,
    user: Option<String>,
    password: Option<TunnelSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--smtp-url: {0}")]
pub struct SmtpUrlError(String);

impl SmtpSettings {
    /// Reads `smtp://USER@HOST:PORT` (or `smtps://`); `password` comes from the environment or
    /// the keychain, never the URL. Errors never repeat the URL (it might hold a password).
    pub fn new(url: &str, password: Option<TunnelSecret>) -> Result<SmtpSettings, SmtpUrlError> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|_| {
            SmtpUrlError("not a URL such as smtp://alerts@mail.example.com:587".into())
        })?;
        let implicit_tls = match parsed.scheme() {
            "smtp" => false,
            "smtps" => true,
            _ => {
                return Err(SmtpUrlError(
                    "the scheme is smtp:// (STARTTLS when offered) or smtps:// (TLS)".into(),
                ))
            }
        };
        if parsed.password().is_some() {
            return Err(SmtpUrlError(
                "a password does not go in the URL (it would show in the process list and the configuration): give it in KYC_MONITOR_SMTP_PASSWORD".into(),
            ));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SmtpUrlError("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let user = Some(parsed.username())
            .filter(|u| !u.is_empty())
            .map(|u| {
                percent_decode(u).map_err(|_| SmtpUrlError("the user name is not UTF-8".into()))
            })
            .transpose()?;
        if password.is_some() && user.is_none() {
            return Err(SmtpUrlError(
                "KYC_MONITOR_SMTP_PASSWORD is set but the URL names no user: give smtp://USER@HOST:PORT".into(),
            ));
        }
        Ok(SmtpSettings {
            port: parsed
                .port()
                .unwrap_or(if implicit_tls { 465 } else { 587 }),
            host,
            implicit_tls,
            user,
            password,
        })
    }

    fn loopback(&self) -> bool {
        match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => is_loopback(&match ip {
                std::net::IpAddr::V4(ip) => url::Host::Ipv4(ip),
                std::net::IpAddr::V6(ip) => url::Host::Ipv6(ip),
            }),
            Err(_) => is_loopback(&url::Host::Domain(self.host.as_str())),
        }
    }

    /// How the conversation is protected: TLS from the start, or STARTTLS, required unless the
    /// server is on this machine (then used when offered).
    fn tls(&self, roots: Vec<Certificate>) -> Result<Tls, SendFailure> {
        let parameters = roots
            .into_iter()
            .fold(
                TlsParameters::builder(self.host.clone())
                    .certificate_store(CertificateStore::WebpkiRoots),
                |builder, root| builder.add_root_certificate(root),
            )
            .build_rustls()
            .map_err(|e| SendFailure::retry(format!("cannot set up TLS for {}: {e}", self.host)))?;
        Ok(if self.implicit_tls {
            Tls::Wrapper(parameters)
        } else if self.loopback() {
            Tls::Opportunistic(parameters)
        } else {
            Tls::Required(parameters)
        })
    }

    /// Sends one alert email to `to`.
    pub(super) async fn send(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        text: String,
    ) -> Result<(), SendFailure> {
        let permanent = |error: String| SendFailure {
            error,
            permanent: true,
            retry_after: None,
        };
        let message = Message::builder()
            .from(
                from.parse()
                    .map_err(|e| permanent(format!("--alert-from {from:?}: {e}")))?,
            )
            .to(to
                .parse()
                .map_err(|e| permanent(format!("mailto:{to}: {e}")))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| permanent(format!("the message could not be made: {e}")))?;
        // Reading the store is file work: off the async threads.
        let roots = tokio::task::spawn_blocking(SystemRoots::load)
            .await
            .map_err(|e| SendFailure::retry(format!("the trusted roots could not be read: {e}")))?;
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(self.tls(roots.certificates)?);
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            transport =
                transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        transport
            .build()
            .send(message)
            .await
            .map(|_| ())
            .map_err(|error| SendFailure {
                permanent: error.is_permanent(),
                error: self.explain(&error, &roots.problems),
                retry_after: None,
            })
    }

    /// A failed conversation in words: a certificate that does not verify and a server without
    /// STARTTLS (off loopback) are said as such, with what would make them work (both are
    /// still retried: the roots are read again at each attempt).
    fn explain(&self, error: &lettre::transport::smtp::Error, problems: &[String]) -> String {
        let server = format!("the mail server {}:{}", self.host, self.port);
        match crate::trust::rustls_error(error) {
            Some(tls @ rustls::Error::InvalidCertificate(_)) => {
                let mut text = format!(
                    "{server}: {}; nothing was sent, the password included",
                    crate::trust::tls_failure(tls)
                );
                if !problems.is_empty() {
                    text.push_str(&format!(
                        "; some trusted roots could not be read: {}",
                        problems.join("; ")
                    ));
                }
                text
            }
            Some(other) => format!(
                "{server}: {}; nothing was sent",
                crate::trust::tls_failure(other)
            ),
            None if error.is_client() && error.to_string().contains("STARTTLS") => format!(
                "{server} does not offer STARTTLS: nothing goes over plain SMTP to a host other \
                 than this machine, the password least of all (use a server with STARTTLS, or \
                 smtps://)"
            ),
            None => format!("{server}: {error}"),
        }
    }

    /// The server as it may be shown: `smtp://USER@HOST:PORT`.
    pub fn shown(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        match &self.user {
            Some(user) => format!("{scheme}://{user}@{}:{}", self.host, self.port),
            None => format!("{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// The operating system's trusted roots (or `SSL_CERT_FILE`/`SSL_CERT_DIR`), added to
/// Mozilla's; what could not be read is kept to explain a certificate that does not verify.
struct SystemRoots {
    certificates: Vec<Certificate>,
    problems: Vec<String>,
}

impl SystemRoots {
    fn load() -> SystemRoots {
        let found = rustls_native_certs::load_native_certs();
        let mut problems: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
        let mut certificates = Vec::with_capacity(found.certs.len());
        let mut unusable = 0;
        for der in found.certs {
            // One malformed root in the store must not make every other one unusable.
            if rustls::RootCertStore::empty().add(der.clone()).is_err() {
                unusable += 1;
                continue;
            }
            match Certificate::from_der(der.to_vec()) {
                Ok(certificate) => certificates.push(certificate),
                Err(_) => unusable += 1,
            }
        }
        if unusable > 0 {
            problems.push(format!(
                "{unusable} certificate(s) in the store are not usable roots"
            ));
        }
        SystemRoots {
            certificates,
            problems,
        }
    }
}

fn percent_decode(text: &str) -> Result<String, std::str::Utf8Error> {
    url::form_urlencoded::parse(format!("u={text}").as_bytes())
        .next()
        .map(|(_, v)| Ok(v.into_owned()))
        .unwrap_or(Ok(String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_read_and_refuse_a_password_inside() {
        let smtp = SmtpSettings::new("smtp://alerts@127.0.0.1:2525", None).unwrap();
        assert_eq!(smtp.shown(), "smtp://alerts@127.0.0.1:2525");
        assert!(smtp.loopback());
        let remote = SmtpSettings::new("smtp://mail.example.com", None).unwrap();
        assert_eq!(remote.port, 587);
        assert!(!remote.loopback());
        let error = SmtpSettings::new("smtp://a:SECRET@mail.example.com", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("KYC_MONITOR_SMTP_PASSWORD") && !error.contains("SECRET"));
        assert!(
            SmtpSettings::new("smtp://mail.example.com", Some(TunnelSecret::new("p"))).is_err()
        );
        assert!(SmtpSettings::new("http://mail.example.com", None).is_err());
    }
}
