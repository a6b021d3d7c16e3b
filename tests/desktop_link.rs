//! The desktop app as a window onto a team monitor (RFC 8252): the app's own client
//! (`team_link`) signs in through a one-time loopback port and PKCE against the real `serve
//! --auth oidc` and the real oidc-provider, then works with the session as a bearer: the
//! declared operations, the live feed, the roles, and the session's end. Real HTTP throughout.

mod support;

use kyc_monitor::monitor::ErrorCode;
use kyc_monitor::team_link::{self, Bearer, FeedItem, TeamLink, TeamWebhookUrl};
use serde_json::json;
use support::idp::{hidden_value, Browser, OidcTeam as Team, Seen};
use support::*;

/// The team monitor's address as the app takes it.
fn url_of(team: &Team) -> url::Url {
    team_link::team_url(&team.ui).unwrap()
}

/// Signs in as `user` through the app's own client, a browser walking the provider's forms and
/// then opening the app's loopback address.
async fn app_signs_in(team: &Team, user: &str) -> (TeamLink, team_link::TeamPerson) {
    let user = user.to_owned();
    let (bearer, person) = team_link::sign_in(&url_of(team), move |start| {
        let start = start.to_owned();
        let app = url::Url::parse(&start)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .expect("the app's loopback address");
        assert!(app.starts_with("http://127.0.0.1:"), "{app}");
        tokio::spawn(async move {
            let browser = Browser::new();
            let back = browser.sign_in_from(&start, &user, &app).await;
            let seen = browser.get(&back).await;
            assert_eq!(seen.status, 200, "{}", seen.body);
            assert!(seen.body.contains("Signed in"), "{}", seen.body);
        });
        Ok(())
    })
    .await
    .expect("the app signs in");
    (TeamLink::new(url_of(team), bearer), person)
}

/// Walks a desktop sign-in in a browser up to the monitor's redirect to the app's loopback
/// address, without an app listening: returns that address.
async fn loopback_redirect(team: &Team, user: &str, redirect_uri: &str, verifier: &str) -> String {
    let (browser, asked) = asked_to_confirm(team, user, redirect_uri, verifier).await;
    let seen = answer(team, &browser, &asked, "yes").await;
    assert_eq!(seen.status, 303, "{}", seen.body);
    // No session cookie for the browser: the session is the app's.
    for cookies in [&asked.set_cookies, &seen.set_cookies] {
        assert!(
            !cookies
                .iter()
                .any(|c| c.starts_with("kyc_monitor_session=") && !c.contains("Max-Age=0")),
            "{cookies:?}"
        );
    }
    seen.location.expect("a redirect to the app")
}

/// Walks a desktop sign-in in a browser up to the monitor's question whether the app may sign
/// in: the browser, and that page.
async fn asked_to_confirm(
    team: &Team,
    user: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (Browser, Seen) {
    use base64::Engine;
    use sha2::Digest;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut start = url::Url::parse(&format!("{}/auth/desktop", team.ui)).unwrap();
    start
        .query_pairs_mut()
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", "st4te")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let browser = Browser::new();
    let callback = browser
        .sign_in_from(start.as_str(), user, &format!("{}/auth/callback", team.ui))
        .await;
    let asked = browser.get(&callback).await;
    // The person is asked first, naming them and where the app waits; nothing goes to the app.
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(asked.location.is_none());
    let app = url::Url::parse(redirect_uri)
        .unwrap()
        .origin()
        .ascii_serialization();
    assert!(
        asked.body.contains(&format!("as {user}@example.com?"))
            && asked.body.contains(&format!("<code>{app}</code>")),
        "{}",
        asked.body
    );
    (browser, asked)
}

/// Answers the page that asks whether the app may sign in.
async fn answer(team: &Team, browser: &Browser, asked: &Seen, answer: &str) -> Seen {
    let token = hidden_value(&asked.body, "token").expect("the page's token");
    browser
        .see(
            browser
                .client
                .post(format!("{}/auth/desktop/confirm", team.ui))
                .form(&[("token", token.as_str()), ("answer", answer)]),
        )
        .await
}

async fn trade(team: &Team, code: &str, verifier: &str) -> (u16, serde_json::Value) {
    let response = client()
        .post(format!("{}/auth/desktop/token", team.ui))
        .json(&json!({ "code": code, "code_verifier": verifier }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

fn code_of(redirect: &str) -> String {
    let url = url::Url::parse(redirect).unwrap();
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "st4te");
    pairs["code"].clone()
}

#[tokio::test]
async fn the_app_signs_in_through_the_browser_and_works_with_its_bearer_session() {
    let team = Team::start(&[]);
    let (link, person) = app_signs_in(&team, "alice").await;
    assert_eq!(person.user, "alice@example.com");
    assert_eq!(person.role.as_str(), "admin");
    assert_eq!(link.person().await.unwrap(), person);

    // A delivery to the team monitor shows on the board read through the app's link, and in
    // its live feed.
    let feed_link = link.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        let mut resume = None;
        let _ = team_link::follow(&feed_link, &mut resume, |item| {
            let _ = tx.send(item);
        })
        .await;
    });
    assert_eq!(rx.recv().await, Some(FeedItem::Open));
    let answer = post(
        &team.monitor.webhook_url,
        flat("user-desk-1", "review", "COMPLETED"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    loop {
        let Some(FeedItem::Event(event)) = rx.recv().await else {
            panic!("the feed ended");
        };
        if event["event"] == "change" {
            assert_eq!(
                event["data"]["user"]["externalId"], "user-desk-1",
                "{event}"
            );
            break;
        }
    }
    let user = link
        .operation("user", json!({"externalId": "user-desk-1"}), json!({}))
        .await
        .unwrap();
    assert_eq!(user["user"]["externalId"], "user-desk-1", "{user}");
    // A change goes without a CSRF token or an Origin: the bearer is no ambient credential.
    let saved = link
        .operation("review_settings", json!({}), json!({}))
        .await
        .unwrap();
    link.operation("save_review_settings", json!({}), saved)
        .await
        .expect("an admin saves the review settings with the bearer alone");

    // The sign-in is in the audit log, as the app's.
    let audit = link
        .operation("audit_log", json!({}), json!({"action": "sign-in"}))
        .await
        .unwrap();
    assert!(audit.to_string().contains("desktop app"), "{audit}");
    follower.abort();
}

#[tokio::test]
async fn a_bearer_session_has_its_person_s_role_and_ends_when_an_admin_ends_it() {
    let team = Team::start(&[]);
    let (alice, _) = app_signs_in(&team, "alice").await;
    let (bob, person) = app_signs_in(&team, "bob").await;
    assert_eq!(person.role.as_str(), "support");
    let refused = bob
        .operation("audit_log", json!({}), json!({}))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{}", refused.message);
    bob.operation("overview", json!({}), json!({}))
        .await
        .expect("support sees the overview");

    // Bob's feed ends with his session.
    let feed_link = bob.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        let mut resume = None;
        team_link::follow(&feed_link, &mut resume, |item| {
            let _ = tx.send(item);
        })
        .await
    });
    assert_eq!(rx.recv().await, Some(FeedItem::Open));
    let ended = client()
        .post(format!("{}/api/sessions/end", team.ui))
        .bearer_auth(alice_secret(&team).await)
        .json(&json!({"user": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status().as_u16(), 200);
    follower
        .await
        .unwrap()
        .expect("the feed ends when the session does");
    let gone = bob.person().await.unwrap_err();
    assert_eq!(gone.code, ErrorCode::Unauthorized);
    assert!(gone.message.contains("sign in again"), "{}", gone.message);
    let gone = bob
        .operation("overview", json!({}), json!({}))
        .await
        .unwrap_err();
    assert_eq!(gone.code, ErrorCode::Unauthorized);
    alice.person().await.expect("alice's session goes on");

    // A made-up bearer is no session.
    let forged = TeamLink::new(url_of(&team), Bearer::new("A".repeat(43)));
    assert_eq!(
        forged.person().await.unwrap_err().code,
        ErrorCode::Unauthorized
    );
}

/// The desktop tray's "Copy webhook URL" while the app is a window onto the team monitor: an
/// admin copies the team monitor's webhook URL (what its own top bar shows); support is shown
/// it without its token, so the item is disabled and says why; so it is when the team monitor
/// does not answer.
#[tokio::test]
async fn the_tray_copies_the_team_webhook_url_for_an_admin_and_says_why_not_otherwise() {
    let team = Team::start(&[]);
    let (alice, _) = app_signs_in(&team, "alice").await;
    let shown = alice.webhook_url().await;
    assert_eq!(
        shown,
        TeamWebhookUrl::Shown(team.monitor.webhook_url.clone())
    );
    assert!(team.monitor.webhook_url.contains("/kyc-webhook/"));
    assert_eq!(shown.menu_item(), ("Copy webhook URL", true));
    assert_eq!(shown.url(), Some(team.monitor.webhook_url.as_str()));

    let (bob, _) = app_signs_in(&team, "bob").await;
    let withheld = bob.webhook_url().await;
    assert_eq!(withheld, TeamWebhookUrl::Withheld);
    assert_eq!(
        withheld.menu_item(),
        ("Copy webhook URL (team admins only)", false)
    );
    assert_eq!(withheld.url(), None);

    let gone = TeamLink::new(
        team_link::team_url(&format!("http://127.0.0.1:{}", free_port())).unwrap(),
        Bearer::new("A".repeat(43)),
    );
    let unknown = gone.webhook_url().await;
    assert!(matches!(unknown, TeamWebhookUrl::Unknown(_)), "{unknown:?}");
    assert!(!unknown.menu_item().1);
}

/// A fresh admin session's secret, through the loopback flow by hand.
async fn alice_secret(team: &Team) -> String {
    let redirect = loopback_redirect(team, "alice", "http://127.0.0.1:9/cb", "v-alice").await;
    let (status, body) = trade(team, &code_of(&redirect), "v-alice").await;
    assert_eq!(status, 200, "{body}");
    body["session"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn codes_go_only_to_loopback_addresses_once_and_with_their_verifier() {
    let team = Team::start(&[]);
    // Not a loopback address: refused before any sign-in starts.
    for bad in [
        "https://evil.example.com:443/cb",
        "http://localhost:4000/cb",
        "http://127.0.0.1/cb",
    ] {
        let mut start = url::Url::parse(&format!("{}/auth/desktop", team.ui)).unwrap();
        start
            .query_pairs_mut()
            .append_pair("redirect_uri", bad)
            .append_pair("state", "s")
            .append_pair("code_challenge", &"a".repeat(43))
            .append_pair("code_challenge_method", "S256");
        let seen = Browser::new().get(start.as_str()).await;
        assert_eq!(seen.status, 400, "{bad}: {}", seen.body);
        assert!(seen.body.contains("loopback"), "{}", seen.body);
    }

    // Any port on 127.0.0.1; the code comes with the app's state.
    let redirect = loopback_redirect(&team, "bob", "http://127.0.0.1:4711/cb?x=1", "right").await;
    assert!(
        redirect.starts_with("http://127.0.0.1:4711/cb?x=1&code="),
        "{redirect}"
    );
    let code = code_of(&redirect);
    // A wrong verifier is refused, and uses the code up.
    let (status, body) = trade(&team, &code, "wrong").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("code_verifier"),
        "{body}"
    );
    let (status, body) = trade(&team, &code, "right").await;
    assert_eq!(status, 400, "{body}");

    // The right one works once.
    let redirect = loopback_redirect(&team, "bob", "http://[::1]:5000/", "right").await;
    let code = code_of(&redirect);
    let (status, body) = trade(&team, &code, "right").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], "bob@example.com");
    assert_eq!(body["role"], "support");
    let (status, body) = trade(&team, &code, "right").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (status, _) = trade(&team, "made-up", "right").await;
    assert_eq!(status, 400);
}

/// A link someone else made brings the person to the monitor's question, not to their app:
/// cancelled, nothing goes to the address that waits, and the refusal is audited. A question is
/// answered once.
#[tokio::test]
async fn the_person_is_asked_before_an_app_gets_a_code_and_may_cancel() {
    let team = Team::start(&[]);
    let (browser, asked) =
        asked_to_confirm(&team, "bob", "http://127.0.0.1:4712/cb", "verifier").await;
    let cancelled = answer(&team, &browser, &asked, "no").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert!(cancelled.location.is_none());
    assert!(
        cancelled.body.contains("The app was not signed in"),
        "{}",
        cancelled.body
    );
    for again in ["yes", "no"] {
        let seen = answer(&team, &browser, &asked, again).await;
        assert_eq!(seen.status, 400, "{}", seen.body);
        assert!(seen.location.is_none());
        assert!(seen.body.contains("has ended"), "{}", seen.body);
    }
    // A made-up token, or none.
    let forged = browser
        .see(
            browser
                .client
                .post(format!("{}/auth/desktop/confirm", team.ui))
                .form(&[("token", "made-up"), ("answer", "yes")]),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let empty = browser
        .see(
            browser
                .client
                .post(format!("{}/auth/desktop/confirm", team.ui)),
        )
        .await;
    assert_eq!(empty.status, 400, "{}", empty.body);

    let db = team.monitor.db.clone();
    let cancelled = eventually("the cancelled sign-in in the audit log", || {
        let output = cli(&db, &["audit", "export", "--format", "jsonl"]);
        let found = stdout(&output)
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find(|e| e["action"] == "sign-in-failed");
        async move { found.ok_or_else(|| "not yet".to_owned()) }
    })
    .await;
    assert_eq!(cancelled["actor"], "bob@example.com");
    assert_eq!(cancelled["outcome"], "refused");
    assert_eq!(
        cancelled["detail"],
        "desktop app: the person cancelled the sign-in of the app at http://127.0.0.1:4712"
    );
}
