//! Team use: people sign in through a real OpenID Provider (node's oidc-provider) or a trusted
//! reverse proxy's headers, sessions and CSRF tokens guard the UI API, and every forged or
//! wrong sign-in is refused with a page. The real binary, a real SQLite file, HTTP throughout.

mod support;

use std::process::Command;

use serde_json::json;
use support::idp::{Browser, OidcTeam as Team, Seen, OTHER_CLIENT_ID};
use support::*;

fn csrf_of(session: &serde_json::Value) -> String {
    session["csrfToken"]
        .as_str()
        .expect("a CSRF token")
        .to_owned()
}

#[tokio::test]
async fn people_sign_in_through_the_provider_and_get_their_group_s_role() {
    let team = Team::start(&[]);
    let anonymous = Browser::new();
    let page = anonymous.get(&format!("{}/", team.ui)).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{}/auth/login", team.ui).as_str())
    );
    let api = anonymous.get(&format!("{}/api/overview", team.ui)).await;
    assert_eq!(api.status, 401);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&api.body).unwrap()["code"],
        "unauthorized"
    );

    let alice = Browser::new();
    let landed = alice.sign_in(&team.ui, "alice").await;
    assert_eq!(landed.status, 303);
    assert_eq!(
        landed.location.as_deref(),
        Some(format!("{}/", team.ui).as_str())
    );
    let cookie = landed
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kyc_monitor_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let (status, session) = alice.session(&team.ui).await;
    assert_eq!(status, 200);
    assert_eq!(session["user"], "alice@example.com");
    assert_eq!(session["name"], "Alice Admin");
    assert_eq!(session["role"], "admin");
    assert!(csrf_of(&session).len() >= 32);
    assert_eq!(
        alice.get(&format!("{}/api/overview", team.ui)).await.status,
        200
    );

    let bob = team.signed_in("bob").await;
    assert_eq!(bob.session(&team.ui).await.1["role"], "support");

    // Neither the cookie's secret nor the CSRF token is in the database in the clear.
    let secret = cookie["kyc_monitor_session=".len()..]
        .split(';')
        .next()
        .unwrap();
    assert!(!database_files_contain(&team.monitor.db, secret.as_bytes()));
    assert!(!database_files_contain(
        &team.monitor.db,
        csrf_of(&session).as_bytes()
    ));
}

#[tokio::test]
async fn someone_whose_groups_have_no_role_gets_a_page_saying_so() {
    let team = Team::start(&[]);
    let carol = Browser::new();
    let seen = carol.sign_in(&team.ui, "carol").await;
    assert_eq!(seen.status, 403);
    assert!(
        seen.content_type.starts_with("text/html"),
        "{}",
        seen.content_type
    );
    assert!(
        seen.body.contains("none of your groups has a role"),
        "{}",
        seen.body
    );
    assert!(seen.body.contains("href=\"/auth/login\""));
    assert_eq!(carol.session(&team.ui).await.0, 401);
}

/// Asserts that a refused sign-in answered a page naming `what`, with a way to sign in again,
/// and left nobody signed in.
async fn refused(team: &Team, browser: &Browser, seen: Seen, what: &str) {
    assert!(
        matches!(seen.status, 400 | 403),
        "{what}: {} {}",
        seen.status,
        seen.body
    );
    assert!(
        seen.content_type.starts_with("text/html"),
        "{what}: {}",
        seen.content_type
    );
    assert!(
        seen.body.contains(what),
        "expected {what:?} in {}",
        seen.body
    );
    assert!(seen.body.contains("Sign in again"), "{}", seen.body);
    assert!(!seen.body.contains("\"code\""), "never JSON: {}", seen.body);
    assert!(!seen
        .set_cookies
        .iter()
        .any(|c| c.starts_with("kyc_monitor_session=")));
    assert_eq!(
        browser.session(&team.ui).await.0,
        401,
        "{what}: nobody is signed in"
    );
}

#[tokio::test]
async fn forged_replayed_or_wrong_sign_ins_are_refused_and_nobody_is_signed_in() {
    let team = Team::start(&[]);

    // A state this monitor never handed out.
    let browser = Browser::new();
    let callback = browser.sign_in_until_callback(&team.ui, "alice").await;
    let url = reqwest::Url::parse(&callback).unwrap();
    let forged: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut wrong_state = url.clone();
    wrong_state.query_pairs_mut().clear().extend_pairs(&forged);
    let seen = browser.get(wrong_state.as_str()).await;
    refused(&team, &browser, seen, "unknown or has expired").await;

    // The provider's error, sent back instead of a code.
    let browser = Browser::new();
    let callback = browser.sign_in_until_callback(&team.ui, "alice").await;
    let url = reqwest::Url::parse(&callback).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let seen = browser
        .get(&format!(
            "{}/auth/callback?error=access_denied&error_description=User+said+no&state={state}",
            team.ui
        ))
        .await;
    refused(&team, &browser, seen, "access_denied").await;

    // ID tokens changed at the provider: signed by a key it never published, expired, or
    // issued for another of its clients.
    for (change, what) in [
        (
            json!({"foreignKey": true}),
            "not signed by a key of the identity provider",
        ),
        (json!({"expired": true}), "has expired"),
        (
            json!({"aud": OTHER_CLIENT_ID}),
            "issued for another application",
        ),
        // An email the person may have set themselves names nobody for certain; nor does one
        // that hides or reorders text.
        (
            json!({"claims": {"email_verified": false}}),
            "is not verified",
        ),
        // As a string, as Amazon Cognito sends it.
        (
            json!({"claims": {"email_verified": "false"}}),
            "is not verified",
        ),
        (
            json!({"claims": {"email": "moc.elpmaxe@\u{202e}bob"}}),
            "holds U+202E",
        ),
        (
            json!({"claims": {"email": "bob@example.com "}}),
            "starts or ends with a space",
        ),
    ] {
        let browser = Browser::new();
        let callback = browser.sign_in_until_callback(&team.ui, "alice").await;
        team.idp.tamper_next_id_token(change).await;
        let seen = browser.get(&callback).await;
        refused(&team, &browser, seen, what).await;
    }

    // A code used once, offered again with another sign-in's state: the provider refuses it.
    let alice = Browser::new();
    let callback = alice.sign_in_until_callback(&team.ui, "alice").await;
    let code = reqwest::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(alice.get(&callback).await.status, 303);
    let replayer = Browser::new();
    let other = replayer.get(&format!("{}/auth/login", team.ui)).await;
    let other_state = reqwest::Url::parse(other.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut replay = reqwest::Url::parse(&format!("{}/auth/callback", team.ui)).unwrap();
    replay
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &other_state);
    let seen = replayer.get(replay.as_str()).await;
    refused(&team, &replayer, seen, "did not accept the sign-in").await;

    // Each refusal is in the audit log, with why; the one sign-in that went through too.
    let db = team.monitor.db.clone();
    // A display name that would disguise itself is shown spelled out.
    let browser = Browser::new();
    let callback = browser.sign_in_until_callback(&team.ui, "alice").await;
    team.idp
        .tamper_next_id_token(json!({"claims": {"name": "Alice \u{202e}nimdA"}}))
        .await;
    let seen = browser.get(&callback).await;
    assert_eq!(seen.status, 303, "{}", seen.body);
    let (status, session) = browser.session(&team.ui).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["name"], "Alice \\u{202e}nimdA", "{session}");
    // A verified email said as a string is verified.
    let browser = Browser::new();
    let callback = browser.sign_in_until_callback(&team.ui, "alice").await;
    team.idp
        .tamper_next_id_token(json!({"claims": {"email_verified": "true"}}))
        .await;
    let seen = browser.get(&callback).await;
    assert_eq!(seen.status, 303, "{}", seen.body);
    assert_eq!(
        browser.session(&team.ui).await.1["user"],
        "alice@example.com"
    );

    let failed = support::eventually("ten failed sign-ins audited", || {
        let db = db.clone();
        async move {
            let output = support::cli(&db, &["audit", "export", "--format", "jsonl"]);
            let failed: Vec<serde_json::Value> = support::stdout(&output)
                .lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                .filter(|entry| entry["action"] == "sign-in-failed")
                .collect();
            match failed.len() {
                10 => Ok(failed),
                n => Err(format!("{n} so far")),
            }
        }
    })
    .await;
    for entry in &failed {
        assert_eq!(entry["outcome"], "refused", "{entry}");
        assert!(!entry["detail"].as_str().unwrap().is_empty(), "{entry}");
        assert_eq!(entry["role"], serde_json::Value::Null, "{entry}");
    }
}

#[tokio::test]
async fn signing_in_goes_on_working_after_the_provider_rotates_its_key() {
    let team = Team::start(&[]);
    let alice = team.signed_in("alice").await;
    team.idp.rotate_keys().await;
    let bob = team.signed_in("bob").await;
    assert_eq!(bob.session(&team.ui).await.1["user"], "bob@example.com");
    assert_eq!(alice.session(&team.ui).await.0, 200);
}

#[tokio::test]
async fn changes_need_the_session_s_csrf_token_and_the_monitor_s_origin() {
    let team = Team::start(&[]);
    let alice = team.signed_in("alice").await;
    let csrf = csrf_of(&alice.session(&team.ui).await.1);
    let body = json!({"user": "nobody@example.com"}).to_string();
    let url = format!("{}/api/sessions/end", team.ui);
    let without = alice
        .see(
            alice
                .client
                .post(&url)
                .header("Origin", &team.ui)
                .body(body.clone()),
        )
        .await;
    let wrong = alice
        .see(
            team.post(&alice, "/api/sessions/end", "not-the-token")
                .body(body.clone()),
        )
        .await;
    let foreign = alice
        .see(
            alice
                .client
                .post(&url)
                .header("Origin", "https://evil.example")
                .header("X-CSRF-Token", &csrf)
                .body(body.clone()),
        )
        .await;
    let no_origin = alice
        .see(
            alice
                .client
                .post(&url)
                .header("X-CSRF-Token", &csrf)
                .body(body.clone()),
        )
        .await;
    for (what, seen) in [
        ("no token", without),
        ("a wrong token", wrong),
        ("a foreign origin", foreign),
        ("no origin", no_origin),
    ] {
        assert_eq!(seen.status, 403, "{what}: {}", seen.body);
        let error: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        assert_eq!(error["code"], "forbidden", "{what}");
        assert!(error["message"].as_str().unwrap().len() > 10);
    }
    // A body that names nobody is a 400 with the route's own sentence.
    let nobody = alice
        .see(
            team.post(&alice, "/api/sessions/end", &csrf)
                .header("Content-Type", "application/json")
                .body("{}"),
        )
        .await;
    assert_eq!(nobody.status, 400, "{}", nobody.body);
    assert!(nobody.body.contains("name the person"), "{}", nobody.body);
    let allowed = alice
        .see(
            team.post(&alice, "/api/sessions/end", &csrf)
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let team = Team::start(&[]);
    let alice = team.signed_in("alice").await;
    let csrf = csrf_of(&alice.session(&team.ui).await.1);
    let out = alice.see(team.post(&alice, "/auth/logout", &csrf)).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(
        out.location.as_deref(),
        Some(format!("{}/auth/signed-out", team.ui).as_str())
    );
    assert_eq!(alice.session(&team.ui).await.0, 401);
    let page = alice.get(out.location.as_deref().unwrap()).await;
    assert!(page.body.contains("signed out"), "{}", page.body);
}

#[tokio::test]
async fn a_session_left_idle_expires() {
    let team = Team::start(&["--session-idle", "2s"]);
    let alice = team.signed_in("alice").await;
    assert_eq!(alice.session(&team.ui).await.0, 200);
    // Left alone for longer than its idle time, it is over (and stays over).
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(alice.session(&team.ui).await.0, 401);
}

#[tokio::test]
async fn an_admin_ends_a_person_s_sessions_and_nobody_else_may() {
    let team = Team::start(&[]);
    let alice = team.signed_in("alice").await;
    let bob = team.signed_in("bob").await;
    let bob_again = team.signed_in("bob").await;
    let bob_csrf = csrf_of(&bob.session(&team.ui).await.1);
    let body = |user: &str| json!({ "user": user }).to_string();
    let refused = bob
        .see(
            team.post(&bob, "/api/sessions/end", &bob_csrf)
                .header("Content-Type", "application/json")
                .body(body("alice@example.com")),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(alice.session(&team.ui).await.0, 200);

    let csrf = csrf_of(&alice.session(&team.ui).await.1);
    let ended = alice
        .see(
            team.post(&alice, "/api/sessions/end", &csrf)
                .header("Content-Type", "application/json")
                .body(body("bob@example.com")),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let ended: serde_json::Value = serde_json::from_str(&ended.body).unwrap();
    assert_eq!(ended["ended"], 2);
    assert_eq!(bob.session(&team.ui).await.0, 401);
    assert_eq!(
        bob_again
            .get(&format!("{}/api/overview", team.ui))
            .await
            .status,
        401
    );
    assert_eq!(alice.session(&team.ui).await.0, 200);
}

/// A monitor behind a sign-in proxy at 127.0.0.1, its UI on a free port.
fn behind_proxy(scratch: &Scratch) -> (Monitor, String) {
    let mut monitor = Monitor::start_on(
        &scratch.db(),
        "127.0.0.1:0",
        &[
            "--auth",
            "proxy",
            "--trusted-proxy",
            "127.0.0.1/32",
            "--public-ui-url",
            "https://kyc.example.test",
            "--role",
            "compliance=kyc-compliance",
            "--role",
            "viewer=staff",
        ],
        &mut Command::new(BIN),
    );
    let ui = monitor.team_ui();
    (monitor, ui)
}

fn as_person(request: reqwest::RequestBuilder, groups: &str) -> reqwest::RequestBuilder {
    request
        .header("X-Forwarded-Email", "dana@example.com")
        .header("X-Forwarded-Groups", groups)
}

#[tokio::test]
async fn behind_a_trusted_proxy_its_headers_sign_the_person_in_with_their_role() {
    let scratch = Scratch::new();
    let (_monitor, ui) = behind_proxy(&scratch);
    let browser = Browser::new();
    let url = format!("{ui}/api/session");
    let seen = browser
        .see(as_person(browser.client.get(&url), "staff, kyc-compliance"))
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let session: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(session["user"], "dana@example.com");
    assert_eq!(session["role"], "compliance");
    let cookie = seen
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kyc_monitor_session="))
        .expect("a session for the CSRF token");
    assert!(
        cookie.contains("Secure"),
        "the public URL is https: {cookie}"
    );
    let overview = browser
        .see(as_person(
            browser.client.get(format!("{ui}/api/overview")),
            "staff",
        ))
        .await;
    assert_eq!(overview.status, 200, "{}", overview.body);

    // Without a group that has a role, or without a person, nobody is in.
    let no_role = browser
        .see(as_person(browser.client.get(&url), "guests"))
        .await;
    assert_eq!(no_role.status, 403, "{}", no_role.body);
    let nobody = Browser::new().get(&url).await;
    assert_eq!(nobody.status, 401, "{}", nobody.body);
}

#[tokio::test]
async fn the_same_headers_from_an_untrusted_address_are_refused() {
    let scratch = Scratch::new();
    let (_monitor, ui) = behind_proxy(&scratch);
    let elsewhere = Browser::from(Some("127.0.0.2".parse().unwrap()));
    for path in ["/api/session", "/api/overview", "/"] {
        let seen = elsewhere
            .see(as_person(
                elsewhere.client.get(format!("{ui}{path}")),
                "kyc-compliance",
            ))
            .await;
        assert_eq!(seen.status, 401, "{path}: {}", seen.body);
    }
}

/// A proxy that appends its headers to the client's own would send two: the monitor refuses
/// rather than believe either (first-wins would let the client name itself, or its groups).
#[tokio::test]
async fn identity_headers_sent_twice_are_refused() {
    let scratch = Scratch::new();
    let (_monitor, ui) = behind_proxy(&scratch);
    let browser = Browser::new();
    let url = format!("{ui}/api/session");
    let two_people = browser
        .see(
            as_person(browser.client.get(&url), "staff")
                .header("X-Forwarded-Email", "mallory@example.com"),
        )
        .await;
    let two_groups = browser
        .see(
            as_person(browser.client.get(&url), "kyc-compliance")
                .header("X-Forwarded-Groups", "staff"),
        )
        .await;
    let joined = browser
        .see(
            browser
                .client
                .get(&url)
                .header("X-Forwarded-Email", "dana@example.com, mallory@example.com")
                .header("X-Forwarded-Groups", "staff"),
        )
        .await;
    assert_eq!(joined.status, 401, "{}", joined.body);
    assert!(joined.body.contains("several values"), "{}", joined.body);
    // Nor is an identity the log and cases could not show as it is: 20,000 characters, a tab.
    for odd in ["d".repeat(20_000), "dana\t@example.com".to_owned()] {
        let seen = browser
            .see(
                browser
                    .client
                    .get(&url)
                    .header("X-Forwarded-Email", odd.as_str())
                    .header("X-Forwarded-Groups", "staff"),
            )
            .await;
        assert_eq!(seen.status, 401, "{}", seen.body);
        assert!(seen.body.contains("too long or holds"), "{}", seen.body);
    }
    for seen in [two_people, two_groups] {
        assert_eq!(seen.status, 401, "{}", seen.body);
        assert!(seen.body.contains("came more than once"), "{}", seen.body);
        assert!(!seen
            .set_cookies
            .iter()
            .any(|c| c.starts_with("kyc_monitor_session=")));
    }
    // The same person with each header once is in.
    let once = browser
        .see(as_person(browser.client.get(&url), "staff"))
        .await;
    assert_eq!(once.status, 200, "{}", once.body);
}

#[tokio::test]
async fn alone_the_session_is_the_local_admin() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start_with(&scratch.db(), true, &[], &mut Command::new(BIN));
    let (base, token) = monitor.ui();
    let answer = send(client().get(format!("{base}/api/session?token={token}"))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let session = answer.json();
    assert_eq!(session["user"], "local");
    assert_eq!(session["name"], "local");
    assert_eq!(session["role"], "admin");
    assert!(!csrf_of(&session).is_empty());
}
