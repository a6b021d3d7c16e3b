//! Roles, walked from the declarations: every operation of `monitor::operations::specs()` is
//! called by a person of every role on a team monitor behind a sign-in proxy, and is refused
//! (403 `forbidden`, and a `refused-by-role` audit entry) exactly when the role is below the
//! declared one. A new declared operation is walked without a line here. Then what each role
//! receives: support and viewer see users masked, no raw headers or bodies, no audit events.

mod support;

use kyc_monitor::access::Role;
use kyc_monitor::monitor::operations::{specs, Method, Spec};
use serde_json::{json, Value};
use support::idp::Browser;
use support::team::{Person, Team};
use support::*;

const PARTICIPANT: &str = "firms/ISV-Participant-Acme/users/user_roles_1";
const ACCOUNT: &str = "firms/ISV-Acme/accounts/7c1e9a02b4d6";
const USER: &str = "user_roles_1";

/// A declared route's address, its parameters filled with what exists.
fn address(spec: &Spec) -> String {
    let path = spec
        .path
        .replace("{id}", "1")
        .replace("{status}", "CLOSED")
        .replace("{externalId}", USER);
    match spec.name {
        "search" => format!("{path}?q=user_roles"),
        _ => path,
    }
}

/// `value` as a role below compliance sees it.
fn masked(value: &str) -> String {
    let count = value.chars().count();
    assert!(count > 4);
    // Four stars whatever the length: the mask tells nothing of it.
    format!("****{}", &value[value.len() - 4..])
}

fn assert_masked(user: &Value, what: &str) {
    assert_eq!(user["participantId"], masked(PARTICIPANT), "{what}: {user}");
    assert_eq!(user["account"], masked(ACCOUNT), "{what}: {user}");
}

/// The users the walk looks at: one in the flat form carrying personal data the provider may
/// add (a date of birth, a name), one in the newer envelope.
async fn with_users(team: &Team) {
    let flat = json!({
        "externalId": USER, "decision": "ACCEPT", "status": "CLOSED", "subStatus": "",
        "participantId": PARTICIPANT, "account": ACCOUNT,
        "date_of_birth": "1987-03-14", "first_name": "Ada", "address": "1 Rue de la Paix"
    });
    team.deliver(USER, flat.to_string()).await;
    let envelope = String::from_utf8(fixture("envelope-approved.json")).unwrap();
    team.deliver("user_6630", envelope).await;
}

#[tokio::test]
async fn every_declared_operation_is_refused_exactly_to_the_roles_below_its_own() {
    let team = Team::start(&[]);
    with_users(&team).await;
    let mut refused = Vec::new();
    for role in Role::ALL {
        let person = team.person(role).await;
        for spec in specs() {
            let url = address(&spec);
            let seen = match spec.method {
                // The feed streams: its answer's head is enough.
                Method::Get if spec.name == "feed" => {
                    let response = person
                        .request(reqwest::Method::GET, &url)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let body = if status == 200 {
                        String::new()
                    } else {
                        response.text().await.unwrap()
                    };
                    (status, body)
                }
                Method::Get => {
                    let seen = person.get(&url).await;
                    (seen.status, seen.body)
                }
                // A body no operation takes: where the role is allowed the call is refused as
                // invalid before anything is done.
                Method::Post => {
                    let seen = person
                        .browser
                        .see(
                            person
                                .request(reqwest::Method::POST, &url)
                                .header("Content-Type", "text/plain")
                                .body("not json"),
                        )
                        .await;
                    (seen.status, seen.body)
                }
            };
            let (status, body) = seen;
            let what = format!("{role} {} {}", spec.method.as_str(), url);
            if role.allows(spec.least) {
                assert_ne!(status, 403, "{what} is allowed: {body}");
                if spec.method == Method::Get {
                    assert_eq!(status, 200, "{what}: {body}");
                }
            } else {
                assert_eq!(status, 403, "{what} is refused: {body}");
                let error: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(error["code"], "forbidden", "{what}");
                assert!(
                    error["message"].as_str().unwrap().contains("your role"),
                    "{what}: {body}"
                );
                refused.push((person.email.clone(), spec));
            }
        }
    }
    assert!(!refused.is_empty());

    // Each refusal by role is in the audit log, with the person and what their role lacked.
    let expected = refused.len();
    let entries = eventually("every refusal in the audit log", || {
        let entries = team.audit();
        let count = entries
            .iter()
            .filter(|e| e["action"] == "refused-by-role")
            .count();
        async move {
            if count >= expected {
                Ok(entries)
            } else {
                Err(format!("{count} refusals"))
            }
        }
    })
    .await;
    for (email, spec) in &refused {
        let detail = format!("{} needs {}", spec.name, spec.least);
        assert!(
            entries.iter().any(|e| e["action"] == "refused-by-role"
                && e["actor"] == email.as_str()
                && e["outcome"] == "refused"
                && e["detail"] == detail.as_str()),
            "no refused-by-role entry for {email}: {detail}"
        );
    }
}

#[tokio::test]
async fn support_sees_users_masked_without_headers_bodies_or_personal_data() {
    let team = Team::start(&[]);
    with_users(&team).await;
    let support = team.person(Role::Support).await;

    let (detail, text) = support.get_json(&format!("/api/users/{USER}")).await;
    assert_masked(&detail["user"], "the user page");
    let timeline = detail["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty());
    for entry in timeline {
        assert_eq!(entry["withheld"], true, "{entry}");
        assert_eq!(entry["headers"], json!([]), "{entry}");
        assert!(
            entry["body"].is_null() && entry["bodyBase64"].is_null(),
            "{entry}"
        );
        assert_masked(entry, "a timeline entry");
    }
    for personal in [
        "date_of_birth",
        "1987-03-14",
        "Ada",
        "Rue de la Paix",
        PARTICIPANT,
        ACCOUNT,
    ] {
        assert!(
            !text.contains(personal),
            "{personal} sent to support: {text}"
        );
    }

    let (found, text) = support.get_json("/api/search?q=user_roles").await;
    let users = found["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{found}");
    assert_masked(&users[0], "a search result");
    assert!(!text.contains("date_of_birth") && !text.contains(PARTICIPANT));

    // Compliance sees the same user whole: the masking is the role's, not the data's.
    let compliance = team.person(Role::Compliance).await;
    let (detail, text) = compliance.get_json(&format!("/api/users/{USER}")).await;
    assert_eq!(detail["user"]["participantId"], PARTICIPANT);
    assert_eq!(detail["timeline"][0]["withheld"], false);
    assert!(text.contains("date_of_birth"), "{text}");
}

#[tokio::test]
async fn below_compliance_a_search_finds_by_externalid_only_and_below_admin_the_webhook_token_is_hidden(
) {
    let team = Team::start(&[]);
    with_users(&team).await;
    let support = team.person(Role::Support).await;
    // A masked identifier cannot be read back by searching for it a part at a time.
    for text in [PARTICIPANT, ACCOUNT, &ACCOUNT[..ACCOUNT.len() - 2]] {
        let (found, _) = support
            .get_json(&format!("/api/search?q={}", urlencoding(text)))
            .await;
        assert_eq!(
            found["users"],
            json!([]),
            "support searched {text}: {found}"
        );
    }
    let (found, _) = support.get_json("/api/search?q=user-roles").await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1, "{found}");
    let compliance = team.person(Role::Compliance).await;
    let (found, _) = compliance
        .get_json(&format!("/api/search?q={}", urlencoding(ACCOUNT)))
        .await;
    assert_eq!(found["users"][0]["externalId"], USER, "{found}");

    // The webhook's token lets anyone deliver: only an admin is shown it.
    let token = team
        .monitor
        .webhook_url
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    for role in [Role::Viewer, Role::Support, Role::Compliance] {
        let (overview, text) = team.person(role).await.get_json("/api/overview").await;
        assert!(
            !text.contains(&token),
            "{role:?} was sent the token: {text}"
        );
        assert!(
            overview["webhookUrl"]
                .as_str()
                .unwrap()
                .ends_with("/kyc-webhook/****"),
            "{overview}"
        );
    }
    let (overview, _) = team
        .person(Role::Admin)
        .await
        .get_json("/api/overview")
        .await;
    assert_eq!(overview["webhookUrl"], team.monitor.webhook_url.as_str());
}

fn urlencoding(text: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("q", text)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("q=")
        .to_owned()
}

#[tokio::test]
async fn the_viewer_s_board_is_masked() {
    let team = Team::start(&[]);
    with_users(&team).await;
    let viewer = team.person(Role::Viewer).await;
    let (page, text) = viewer.get_json("/api/board/CLOSED").await;
    let user = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["externalId"] == USER)
        .unwrap_or_else(|| panic!("{USER} on the board: {page}"))
        .clone();
    assert_masked(&user, "the board");
    assert!(
        !text.contains(PARTICIPANT) && !text.contains(ACCOUNT),
        "{text}"
    );
}

/// Long work's progress reaches only the roles that may start it: a backup's (whose messages
/// name paths on the monitor's machine) the admins, not support, neither live nor asked for.
#[tokio::test]
async fn a_backup_s_progress_goes_to_admins_only() {
    let team = Team::start(&[]);
    let admin = team.person(Role::Admin).await;
    let support = team.person(Role::Support).await;
    let mut admin_feed = admin.feed().await;
    let mut support_feed = support.feed().await;
    let folder = "/nonexistent-kyc-ledger-folder";
    admin
        .post("/api/backup", json!({"path": format!("{folder}/copy.db")}))
        .await;
    let told = admin_feed
        .until("the backup's outcome", |name, data| {
            name == "work" && data.to_string().contains(folder)
        })
        .await;
    assert!(told.to_string().contains("\"backup\""), "{told}");
    // Once support's feed has passed a delivery made after it, it had carried no backup.
    team.deliver("after_backup", flat("after_backup", "", "OPEN"))
        .await;
    support_feed
        .until("the delivery after the backup", |name, data| {
            name == "change" && data["externalId"] == "after_backup"
        })
        .await;
    let seen = serde_json::to_string(&support_feed.seen).unwrap();
    assert!(
        !seen.contains(folder) && !seen.contains("\"backup\""),
        "{seen}"
    );
    let (work, text) = support.get_json("/api/work").await;
    assert!(!text.contains(folder), "support's /api/work: {text}");
    assert!(work
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["kind"] != "backup"));
    let (_, text) = admin.get_json("/api/work").await;
    assert!(text.contains(folder), "the admin's /api/work: {text}");
}

/// The alert rules' starts and resolves reach every open window of every role, live: what
/// the desktop app connected to a team monitor notifies, and what the page's strip shows.
#[tokio::test]
async fn every_role_follows_an_alert_starting_and_resolving_in_the_feed() {
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let team = Team::start(&[
        "--signing-secret",
        SECRET,
        "--alert-refused-window",
        "3s",
        "--alert-settle",
        "200ms",
    ]);
    let mut feeds = Vec::new();
    for role in Role::ALL {
        feeds.push((role, team.person(role).await.feed().await));
    }
    for n in 0..10 {
        let forged = flat(&format!("forged{n}"), "", "OPEN");
        assert_eq!(post(&team.monitor.webhook_url, forged).await.status, 401);
    }
    let viewer = team.person(Role::Viewer).await;
    for (role, feed) in &mut feeds {
        let started = feed
            .until("the refused signatures' alert", |name, data| {
                name == "alert" && data["resolved"] == false
            })
            .await;
        assert_eq!(started["rule"], "refused-signatures", "{role}: {started}");
        assert!(
            started["summary"]
                .as_str()
                .unwrap()
                .contains("10 deliveries refused for their signature"),
            "{role}: {started}"
        );
        assert_eq!(started["view"], "#/deliveries", "{role}");
        if *role == Role::Viewer {
            // The overview, which the page's strip shows, holds it meanwhile.
            let (overview, _) = viewer.get_json("/api/overview").await;
            let conditions = &overview["attention"]["conditions"];
            assert!(
                conditions
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["key"] == started["key"]),
                "{overview}"
            );
        }
    }
    // Once the window has passed the burst by, every feed tells it resolved, once.
    for (role, feed) in &mut feeds {
        let resolved = feed
            .until("the alert resolving", |name, data| {
                name == "alert" && data["resolved"] == true
            })
            .await;
        assert_eq!(resolved["rule"], "refused-signatures", "{role}");
        let alerts = feed.names().iter().filter(|name| **name == "alert").count();
        assert_eq!(alerts, 2, "{role}: one start and one resolve");
    }
}

#[tokio::test]
async fn the_feed_masks_users_below_compliance_and_carries_audit_events_to_admins_only() {
    let team = Team::start(&[]);
    with_users(&team).await;
    let admin = team.person(Role::Admin).await;
    let support = team.person(Role::Support).await;
    let mut admin_feed = admin.feed().await;
    let mut support_feed = support.feed().await;

    // The backlog replayed to support: the user masked.
    let change = support_feed
        .until("the user's change", |name, data| {
            name == "change" && data["externalId"] == USER
        })
        .await;
    assert_masked(&change["user"], "the feed");

    // Support searches (an audited action): the admins' feed tells of it.
    assert_eq!(support.get("/api/search?q=user").await.status, 200);
    let entry = admin_feed
        .until("support's search in the audit log", |name, data| {
            name == "audit" && data["actor"] == "support@example.com" && data["action"] == "search"
        })
        .await;
    assert_eq!(entry["action"], "search", "{entry}");

    // Two deliveries after it, the second sent once support's feed carried the first: by then
    // the feed has passed the search's audit entry, which it did not send.
    for marker in ["user_marker_1", "user_marker_2"] {
        team.deliver(marker, flat(marker, "", "OPEN")).await;
        support_feed
            .until(marker, |name, data| {
                name == "change" && data["externalId"] == marker
            })
            .await;
    }
    assert!(
        !support_feed.names().contains(&"audit"),
        "support was sent audit events: {:?}",
        support_feed.names()
    );
    assert!(
        !serde_json::to_string(&support_feed.seen)
            .unwrap()
            .contains(PARTICIPANT),
        "support's feed carried a participant whole"
    );
}

#[tokio::test]
async fn a_proxy_sign_in_is_audited_once_per_session_and_a_person_without_a_role_too() {
    let team = Team::start(&[]);
    let support = team.person(Role::Support).await;
    for _ in 0..3 {
        assert_eq!(support.get("/api/session").await.status, 200);
        assert_eq!(support.get("/api/overview").await.status, 200);
    }
    let stranger = Person {
        browser: Browser::new(),
        email: "eve@example.com".into(),
        groups: "guests".into(),
        ui: team.ui.clone(),
        csrf: String::new(),
    };
    assert_eq!(stranger.get("/api/session").await.status, 403);

    let entries = eventually("the failed sign-in in the audit log", || {
        let entries = team.audit();
        async move {
            match entries.iter().any(|e| e["action"] == "sign-in-failed") {
                true => Ok(entries),
                false => Err(format!("{} entries", entries.len())),
            }
        }
    })
    .await;
    let sign_ins: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "sign-in")
        .collect();
    assert_eq!(sign_ins.len(), 1, "{entries:?}");
    assert_eq!(sign_ins[0]["actor"], "support@example.com");
    assert_eq!(sign_ins[0]["role"], "support");
    let failed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "sign-in-failed")
        .collect();
    assert_eq!(failed.len(), 1, "{entries:?}");
    assert_eq!(failed[0]["actor"], "eve@example.com");
    assert_eq!(failed[0]["outcome"], "refused");
    assert!(failed[0]["detail"].as_str().unwrap().contains("guests"));
}

/// Behind the proxy every request's peer is the proxy: the audit records the client it forwards
/// for (the last address a trusted proxy saw, not what the client wrote left of it) and the proxy.
#[tokio::test]
async fn the_audit_records_the_address_the_proxy_forwards_for() {
    let team = Team::start(&[]);
    team.hold("addr_1").await;
    let person = Person {
        browser: Browser::new(),
        email: "ann@example.com".into(),
        groups: "g-comp".into(),
        ui: team.ui.clone(),
        csrf: String::new(),
    };
    let forwarded = |path: &str| {
        person
            .request(reqwest::Method::GET, path)
            .header("X-Forwarded-For", "10.6.6.6, 203.0.113.7")
    };
    assert_eq!(
        person.browser.see(forwarded("/api/session")).await.status,
        200
    );
    let viewed = person.browser.see(forwarded("/api/users/addr_1")).await;
    assert_eq!(viewed.status, 200, "{}", viewed.body);
    // A proxy that sends no X-Forwarded-For: its own address.
    assert_eq!(person.get("/api/search?q=addr_").await.status, 200);

    let entries = eventually("the search in the audit log", || {
        let entries = team.audit();
        async move {
            match entries.iter().any(|e| e["action"] == "search") {
                true => Ok(entries),
                false => Err(format!("{} entries", entries.len())),
            }
        }
    })
    .await;
    let from = |action: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["actor"] == "ann@example.com")
            .map(|e| e["remoteAddr"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        from("sign-in"),
        ["203.0.113.7 via 127.0.0.1"],
        "{entries:?}"
    );
    assert_eq!(from("user-viewed"), ["203.0.113.7 via 127.0.0.1"]);
    assert_eq!(from("search"), ["127.0.0.1"]);
}

/// Behind a sign-in proxy the monitor has no sign-in of its own for the desktop app: each of its
/// routes says so, to a person already signed in.
#[tokio::test]
async fn the_app_sign_in_routes_say_there_is_none_behind_a_proxy() {
    let team = Team::start(&[]);
    let admin = team.person(Role::Admin).await;
    for (method, path) in [
        (reqwest::Method::GET, "/auth/desktop"),
        (reqwest::Method::POST, "/auth/desktop/token"),
        (reqwest::Method::POST, "/auth/desktop/confirm"),
    ] {
        let seen = admin.browser.see(admin.request(method, path)).await;
        assert_eq!(seen.status, 404, "{path}: {}", seen.body);
        assert!(
            seen.body.contains("no sign-in of its own for apps"),
            "{path}: {}",
            seen.body
        );
    }
}

#[tokio::test]
async fn an_open_feed_ends_when_its_session_ends() {
    let team = Team::start(&[]);
    with_users(&team).await;

    // Signing out ends the feed opened with that session.
    let support = team.person(Role::Support).await;
    let mut feed = support.feed().await;
    feed.until("the backlog", |name, _| name == "change").await;
    let out = support
        .browser
        .see(support.request(reqwest::Method::POST, "/auth/logout"))
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    feed.ends("signed out").await;

    // An admin ending a person's sessions ends their feed; another person's goes on.
    let support = team.person(Role::Support).await;
    let viewer = team.person(Role::Viewer).await;
    let mut ended = support.feed().await;
    let mut going_on = viewer.feed().await;
    ended.until("the backlog", |name, _| name == "change").await;
    going_on
        .until("the backlog", |name, _| name == "change")
        .await;
    let admin = team.person(Role::Admin).await;
    let answer = admin
        .browser
        .see(
            admin
                .request(reqwest::Method::POST, "/api/sessions/end")
                .header("Content-Type", "application/json")
                .body(json!({"user": "support@example.com"}).to_string()),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    ended.ends("the admin ended the sessions").await;
    team.deliver("user_after", flat("user_after", "", "OPEN"))
        .await;
    going_on
        .until("a change after the ending", |name, data| {
            name == "change" && data["externalId"] == "user_after"
        })
        .await;
}

#[test]
fn the_readme_s_role_table_names_every_operation_at_its_least_role() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut listed = Vec::new();
    let table = readme
        .lines()
        .skip_while(|line| *line != "### What each role sees and may do")
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'));
    for row in table.filter(|line| line.contains("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        // The first role column with a mark is the row's least role.
        let least = Role::ALL[cells[2..6]
            .iter()
            .position(|c| !c.is_empty())
            .expect("a mark")];
        for name in cells[1].split_whitespace() {
            listed.push((name.trim_matches('`').to_owned(), least));
        }
    }
    let mut declared: Vec<(String, Role)> = specs()
        .iter()
        .map(|spec| (spec.name.to_owned(), spec.least))
        .collect();
    listed.sort();
    declared.sort();
    assert_eq!(
        listed, declared,
        "README's \"What each role sees and may do\""
    );
}

#[tokio::test]
async fn a_date_of_birth_from_the_newer_envelope_reaches_compliance_only_never_support_or_viewer() {
    const BORN: &str = "1961-07-04";
    let team = Team::start(&[]);
    with_users(&team).await;
    let mut feeds = Vec::new();
    for role in [Role::Support, Role::Viewer] {
        let person = team.person(role).await;
        let feed = person.feed().await;
        feeds.push((role, person, feed));
    }
    let envelope = json!({
        "event_type": "kyc.rejected", "event_id": "evt_born", "event_time": "2026-11-26T14:05:40.017Z",
        "data": {"external_id": "user_born", "status": "KYC_STATUS_REJECTED",
                 "status_set_at": "2026-11-26T14:05:39.660Z",
                 "rejection_reason": "document expired", "date_of_birth": BORN}
    });
    team.deliver("user_born", envelope.to_string()).await;

    for (role, person, feed) in &mut feeds {
        let change = feed
            .until("user_born's change", |name, data| {
                name == "change" && data["externalId"] == "user_born"
            })
            .await;
        assert_eq!(change["user"]["rejectionReason"], "document expired");
        let seen = serde_json::to_string(&feed.seen).unwrap();
        assert!(
            !seen.contains(BORN),
            "{role}'s feed carried the date of birth"
        );
        // Every answer the role may read, the user's own pages included.
        let mut paths: Vec<String> = specs()
            .iter()
            .filter(|spec| spec.method == Method::Get && spec.name != "feed")
            .filter(|spec| role.allows(spec.least))
            .map(|spec| address(spec).replace(USER, "user_born"))
            .collect();
        paths.push("/api/search?q=user_born".into());
        for path in paths {
            let seen = person.get(&path).await;
            assert!(
                !seen.body.contains(BORN) && !seen.body.contains("dateOfBirth\":\""),
                "{role} got the date of birth from {path}: {}",
                seen.body
            );
        }
    }
    let compliance = team.person(Role::Compliance).await;
    let (detail, _) = compliance.get_json("/api/users/user_born").await;
    assert_eq!(detail["timeline"][0]["dateOfBirth"], BORN);
    assert_eq!(detail["user"]["rejectionReason"], "document expired");
}
