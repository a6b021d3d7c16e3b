//! The team options of `serve` (`--auth oidc|proxy` and what goes with each), read by clap like
//! every other option (so the `--config` file and `kyc-monitor config` take them too), and
//! checked together into one [`TeamConfig`]: a combination that cannot work is a sentence
//! naming the flags to change.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::access::Role;
use crate::secret::TunnelSecret;

/// Where the OIDC client secret is read from (it is never a value shown or logged).
pub const OIDC_SECRET_VARIABLE: &str = "KYC_MONITOR_OIDC_CLIENT_SECRET";
/// How long a session lives without a request, unless told otherwise.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// How long a session lives at most, whatever its use.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How people are signed in when the monitor is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Through an OpenID Provider (authorization code flow with PKCE).
    Oidc,
    /// The identity a trusted reverse proxy (oauth2-proxy and the like) puts in headers.
    Proxy,
}

/// `serve`'s team options as given.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Team use")]
pub struct TeamFlags {
    /// Shares the UI with a team, people signed in: oidc (an OpenID Provider) or proxy (a
    /// trusted reverse proxy's headers). Required for a --ui-listen that is not loopback.
    #[arg(long, value_enum, value_name = "oidc|proxy")]
    pub auth: Option<AuthMode>,
    /// oidc: the issuer URL (discovery at /.well-known/openid-configuration).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub oidc_issuer: Option<String>,
    /// oidc: this monitor's client id at the provider.
    #[arg(long, value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// oidc: the client secret [default: none, a public client] (flags show in ps: prefer the environment)
    #[arg(
        long,
        env = OIDC_SECRET_VARIABLE,
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub oidc_client_secret: Option<String>,
    /// oidc: the claim of the ID token that lists a person's groups.
    #[arg(long, default_value = "groups", value_name = "NAME")]
    pub oidc_groups_claim: String,
    /// What people open (https://kyc.example.com); the redirect URI is this plus /auth/callback,
    /// and state-changing requests must come from its origin.
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub public_ui_url: Option<String>,
    /// proxy: the header naming the person.
    #[arg(long, default_value = "X-Forwarded-Email", value_name = "NAME")]
    pub proxy_user_header: String,
    /// proxy: the header listing the person's groups, comma-separated.
    #[arg(long, default_value = "X-Forwarded-Groups", value_name = "NAME")]
    pub proxy_groups_header: String,
    /// proxy: the only addresses whose identity headers are believed (repeat for more).
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_cidr)]
    pub trusted_proxies: Vec<Cidr>,
    /// A group whose members get ROLE: admin, compliance, support or viewer (repeat for more;
    /// a person gets the highest role one of their groups maps to).
    #[arg(long = "role", value_name = "ROLE=GROUP", value_parser = parse_role_grant)]
    pub roles: Vec<RoleGrant>,
    /// How long a session lives without a request (such as 8h, 30m, 90s); at most 7 days.
    #[arg(long, default_value = "8h", value_name = "DURATION", value_parser = parse_duration)]
    pub session_idle: Duration,
}

/// An address range: `10.0.0.0/8`, `127.0.0.1/32`, `::1/128`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

pub fn parse_cidr(text: &str) -> Result<Cidr, String> {
    let bad = || format!("{text:?} is not an address range such as 10.0.0.0/8 or 127.0.0.1/32");
    let (addr, prefix) = match text.trim().split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text.trim(), None),
    };
    let network = IpAddr::from_str(addr).map_err(|_| bad())?.to_canonical();
    let most = if network.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(prefix) => prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= most)
            .ok_or_else(bad)?,
        None => most,
    };
    Ok(Cidr { network, prefix })
}

/// `--role ROLE=GROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub role: Role,
    pub group: String,
}

pub fn parse_role_grant(text: &str) -> Result<RoleGrant, String> {
    let (role, group) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ROLE=GROUP, such as admin=kyc-admins"))?;
    let group = group.trim();
    if group.is_empty() {
        return Err(format!("{text:?} names no group after ="));
    }
    Ok(RoleGrant {
        role: role.trim().parse()?,
        group: group.to_owned(),
    })
}

/// Which role each group brings; a person gets the highest of their groups'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap(Vec<RoleGrant>);

impl RoleMap {
    pub fn new(grants: Vec<RoleGrant>) -> RoleMap {
        RoleMap(grants)
    }

    pub fn role_for<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        let groups: Vec<&str> = groups.into_iter().collect();
        self.0
            .iter()
            .filter(|grant| groups.contains(&grant.group.as_str()))
            .map(|grant| grant.role)
            .max()
    }
}

/// A duration such as `8h`, `30m`, `90s`, `1d` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 8h, 30m or 90s");
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// An http(s) URL with a host, written without a trailing slash.
fn http_url(text: &str) -> Result<String, String> {
    match url::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(text.trim().trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "{text:?} is not an http(s) URL such as https://kyc.example.com"
        )),
    }
}

/// The OpenID Provider and this monitor's client there.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<TunnelSecret>,
    pub groups_claim: String,
}

/// The trusted reverse proxy and its headers.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub user_header: String,
    pub groups_header: String,
    pub trusted: Vec<Cidr>,
}

impl ProxyConfig {
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted.iter().any(|cidr| cidr.contains(peer))
    }
}

#[derive(Debug, Clone)]
pub enum SignIn {
    Oidc(OidcConfig),
    Proxy(ProxyConfig),
}

/// Team mode, every value checked.
#[derive(Debug, Clone)]
pub struct TeamConfig {
    pub sign_in: SignIn,
    /// The origin people open, without a trailing slash.
    pub public_ui_url: String,
    pub roles: RoleMap,
    pub session_idle: Duration,
}

impl TeamConfig {
    /// Cookies carry `Secure` when people reach the UI over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_ui_url.starts_with("https://")
    }

    /// The `Origin` a state-changing request must carry: scheme, host and port of the URL.
    pub fn public_origin(&self) -> String {
        url::Url::parse(&self.public_ui_url)
            .map(|url| url.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

/// The team options checked together; `None` is single-person mode. `ui_listen` is where the UI
/// listens (`None`: off).
pub fn team_config(
    flags: TeamFlags,
    ui_listen: Option<SocketAddr>,
) -> Result<Option<TeamConfig>, String> {
    let Some(mode) = flags.auth else {
        if let Some(addr) = ui_listen.filter(|addr| !addr.ip().is_loopback()) {
            return Err(format!("--ui-listen {addr} is not a loopback address: the UI shows every user's data, so on the network it needs sign-in; add --auth oidc (an OpenID Provider) or --auth proxy (a trusted reverse proxy), or listen on 127.0.0.1"));
        }
        return Ok(None);
    };
    if ui_listen.is_none() {
        return Err("--auth signs people in to the UI, but --ui-listen is off: give the UI an address with --ui-listen".into());
    }
    let Some(public_ui_url) = flags.public_ui_url else {
        return Err("--auth needs --public-ui-url, the URL people open (such as https://kyc.example.com): the sign-in's redirect and the same-origin check use it".into());
    };
    if flags.roles.is_empty() {
        return Err("--auth needs at least one --role ROLE=GROUP (such as --role admin=kyc-admins): without one nobody may use the monitor".into());
    }
    if flags.session_idle > SESSION_ABSOLUTE {
        return Err("--session-idle is over 7 days, the longest a session lives".into());
    }
    let sign_in = match mode {
        AuthMode::Oidc => {
            let (Some(issuer), Some(client_id)) = (flags.oidc_issuer, flags.oidc_client_id) else {
                return Err("--auth oidc needs --oidc-issuer URL and --oidc-client-id ID (and the client secret in KYC_MONITOR_OIDC_CLIENT_SECRET, unless the client is public)".into());
            };
            if !flags.trusted_proxies.is_empty() {
                return Err(
                    "--trusted-proxy is for --auth proxy; with --auth oidc leave it out".into(),
                );
            }
            SignIn::Oidc(OidcConfig {
                issuer,
                client_id,
                client_secret: TunnelSecret::given(flags.oidc_client_secret),
                groups_claim: flags.oidc_groups_claim,
            })
        }
        AuthMode::Proxy => {
            if flags.trusted_proxies.is_empty() {
                return Err("--auth proxy needs --trusted-proxy CIDR (the proxy's address, such as 127.0.0.1/32): identity headers from any other address are refused".into());
            }
            if flags.oidc_issuer.is_some() || flags.oidc_client_id.is_some() {
                return Err("--oidc-issuer and --oidc-client-id are for --auth oidc; with --auth proxy the proxy signs people in".into());
            }
            for header in [&flags.proxy_user_header, &flags.proxy_groups_header] {
                if axum::http::HeaderName::from_str(header).is_err() {
                    return Err(format!("{header:?} is not an HTTP header name"));
                }
            }
            SignIn::Proxy(ProxyConfig {
                user_header: flags.proxy_user_header,
                groups_header: flags.proxy_groups_header,
                trusted: flags.trusted_proxies,
            })
        }
    };
    Ok(Some(TeamConfig {
        sign_in,
        public_ui_url,
        roles: RoleMap::new(flags.roles),
        session_idle: flags.session_idle,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_their_addresses_only() {
        let local = parse_cidr("127.0.0.1/32").unwrap();
        assert!(local.contains("127.0.0.1".parse().unwrap()));
        assert!(local.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!local.contains("127.0.0.2".parse().unwrap()));
        let ten = parse_cidr("10.0.0.0/8").unwrap();
        assert!(ten.contains("10.200.1.1".parse().unwrap()));
        assert!(!ten.contains("11.0.0.1".parse().unwrap()));
        assert!(parse_cidr("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("::1").unwrap().contains("::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "example.com/8", "", "10.0.0.0/x"] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_highest_role_of_a_person_s_groups_wins() {
        let roles = RoleMap::new(vec![
            parse_role_grant("support=kyc-support").unwrap(),
            parse_role_grant("admin=kyc-admins").unwrap(),
            parse_role_grant("viewer=everyone").unwrap(),
        ]);
        assert_eq!(
            roles.role_for(["everyone", "kyc-admins"]),
            Some(Role::Admin)
        );
        assert_eq!(roles.role_for(["kyc-support"]), Some(Role::Support));
        assert_eq!(roles.role_for(["other"]), None);
        assert!(parse_role_grant("root=x").is_err());
        assert!(parse_role_grant("admin=").is_err());
    }

    #[test]
    fn durations_read_in_their_units() {
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(28_800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        for bad in ["", "0s", "8", "h", "5w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
