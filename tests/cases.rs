//! Case work on the review queue, against a real `serve` on port 0 with real deliveries: two
//! people behind a sign-in proxy assign, note and mark cases over HTTP; a change made on a stale
//! view is refused (409) and nothing is lost; every action is audited and on the live feed;
//! notes are append-only and withheld below compliance; the SLA clock marks late cases and
//! pauses while waiting on the customer, across restarts; exports carry the cases.

#[path = "cases/harness.rs"]
mod harness;
mod support;

use std::process::Command;

use harness::*;
use kyc_monitor::access::Role;
use kyc_monitor::monitor::operations::specs;
use serde_json::{json, Value};
use support::team::Team;
use support::*;

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

#[tokio::test]
async fn two_people_work_cases_at_once_and_nothing_is_lost() {
    let team = Team::start(&[]);
    team.hold("case_1").await;
    team.hold("case_2").await;
    let ann = team.person_as(ANN, Role::Compliance).await;
    let bob = team.person_as(BOB, Role::Admin).await;
    let sue = team.person_as("sue@example.com", Role::Support).await;
    let mut bobs_feed = bob.feed().await;
    let mut sues_feed = sue.feed().await;

    // Ann takes case_1; Bob's window hears of it.
    let case = ann.json("/api/cases/case_1").await;
    assert_eq!(case["version"], 0);
    assert_eq!(case["assignee"], Value::Null);
    let taken = ann
        .ok("/api/cases/case_1/assign", json!({"version": 0}))
        .await;
    assert_eq!(taken["assignee"], ANN);
    assert_eq!(taken["version"], 1);
    let heard = bobs_feed
        .case("ann's assignment", |c| c["externalId"] == "case_1")
        .await;
    assert_eq!(heard["assignee"], ANN);
    assert_eq!(heard["version"], 1);

    // Both act on version 1 at once: one wins, the other is told what the winner did.
    let (marked, reassigned) = tokio::join!(
        ann.post(
            "/api/cases/case_1/marker",
            json!({"version": 1, "marker": "escalated"})
        ),
        bob.post(
            "/api/cases/case_1/assign",
            json!({"version": 1, "assignee": "carol@example.com"})
        ),
    );
    let mut statuses = [marked.0, reassigned.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{marked:?} {reassigned:?}");
    let (loser, retry_path, retry_body, winner_did) = if marked.0 == 409 {
        (
            &marked.1,
            "/api/cases/case_1/marker",
            json!({"version": 2, "marker": "escalated"}),
            "assigned to carol@example.com",
        )
    } else {
        (
            &reassigned.1,
            "/api/cases/case_1/assign",
            json!({"version": 2, "assignee": "carol@example.com"}),
            "marked escalated",
        )
    };
    assert_eq!(loser["code"], "conflict", "{loser}");
    let message = loser["message"].as_str().unwrap();
    assert!(
        message.contains(winner_did) && message.contains("version 2"),
        "{message}"
    );
    // The loser looks again and redoes the change: both are kept.
    let seen = ann.json("/api/cases/case_1").await;
    assert_eq!(seen["version"], 2);
    let retrier = if marked.0 == 409 { &ann } else { &bob };
    let after = retrier.ok(retry_path, retry_body).await;
    assert_eq!(after["version"], 3);
    assert_eq!(after["assignee"], "carol@example.com");
    assert_eq!(after["marker"], "escalated");

    // Notes: appended by each, in order, with author and time; no version needed.
    ann.ok(
        "/api/cases/case_1/notes",
        json!({"text": "Called the customer: passport photo blurred."}),
    )
    .await;
    let noted = bob
        .ok(
            "/api/cases/case_1/notes",
            json!({"text": "Asked for a new photo.", "version": 4}),
        )
        .await;
    assert_eq!(noted["notes"][0]["author"], BOB);
    let heard = bobs_feed.case("bob's note", |c| c["version"] == 5).await;
    assert_eq!(heard["notes"][0]["text"], "Asked for a new photo.");
    // Support hears the case changed, without the note.
    let told = sues_feed
        .case("the note, for support", |c| c["version"] == 5)
        .await;
    assert_eq!(told["notes"], json!([]));
    assert_eq!(told["notesWithheld"], true);
    assert_eq!(told["assignee"], "carol@example.com");
    let case = bob.json("/api/cases/case_1").await;
    let notes = case["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["author"], ANN);
    assert_eq!(
        notes[0]["text"],
        "Called the customer: passport photo blurred."
    );
    assert!(notes[0]["writtenAt"].as_i64().unwrap() <= notes[1]["writtenAt"].as_i64().unwrap());
    // A stale note is refused like any change; an empty one is invalid.
    let (status, answer) = ann
        .post(
            "/api/cases/case_1/notes",
            json!({"text": "late", "version": 1}),
        )
        .await;
    assert_eq!((status, answer["code"].as_str()), (409, Some("conflict")));
    let (status, answer) = ann
        .post("/api/cases/case_1/notes", json!({"text": "   "}))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid")),
        "{answer}"
    );
    let (status, _) = ann
        .post(
            "/api/cases/case_1/assign",
            json!({"version": 5, "assignee": "<script>"}),
        )
        .await;
    assert_eq!(status, 400);
    // Over the limits: refused whole, saying how much to cut; nothing is saved, nothing is cut.
    let (status, answer) = ann
        .post(
            "/api/cases/case_1/notes",
            json!({"text": "word ".repeat(2_005) + "ab"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid")),
        "{answer}"
    );
    assert_eq!(
        answer["message"],
        "a note is at most 10000 characters; this one has 10027: cut 27"
    );
    let (status, answer) = ann
        .post(
            "/api/cases/case_1/assign",
            json!({"version": 5, "assignee": "a".repeat(5_000)}),
        )
        .await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (
            400,
            Some("a person's name is at most 200 characters; this one has 5000: cut 4800")
        ),
        "{answer}"
    );
    let kept = ann.json("/api/cases/case_1").await;
    assert_eq!(kept["notes"].as_array().unwrap().len(), 2, "{kept}");
    let (status, answer) = ann
        .post("/api/cases/nobody/assign", json!({"version": 0}))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("notFound")),
        "{answer}"
    );
    // Append-only: no declared route edits or removes a note, and none exists.
    let note_routes: Vec<_> = specs()
        .into_iter()
        .filter(|spec| spec.path.contains("/notes"))
        .map(|spec| (spec.name, spec.method.as_str()))
        .collect();
    assert_eq!(note_routes, [("note_case", "POST")]);
    for method in [reqwest::Method::PUT, reqwest::Method::DELETE] {
        let seen = bob
            .browser
            .see(bob.request(method.clone(), "/api/cases/case_1/notes"))
            .await;
        assert!(
            matches!(seen.status, 404 | 405),
            "{method}: {}",
            seen.status
        );
    }

    // The queue: cards carry the case; mine and unassigned narrow it.
    // A version from nowhere on a case nobody has worked on: told so, not "someone changed it".
    let (status, answer) = ann
        .post("/api/cases/case_2/assign", json!({"version": 3}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["message"],
        "nobody has worked on this case yet: it is version 0, not the version 3 you sent; \
         look at it again and redo your change"
    );
    ann.ok("/api/cases/case_2/assign", json!({"version": 0}))
        .await;
    let ids = |page: &Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["externalId"].as_str().unwrap().to_owned())
            .collect()
    };
    let queue = ann.json("/api/review").await;
    assert_eq!(ids(&queue), ["case_1", "case_2"]);
    assert_eq!(queue["users"][0]["case"]["assignee"], "carol@example.com");
    assert_eq!(queue["users"][0]["case"]["marker"], "escalated");
    assert_eq!(queue["users"][0]["case"]["notes"], json!([]));
    assert_eq!(
        ids(&ann.json("/api/review?assigned=mine").await),
        ["case_2"]
    );
    assert_eq!(ann.json("/api/review?assigned=mine").await["total"], 1);
    assert!(ids(&bob.json("/api/review?assigned=mine").await).is_empty());
    bob.ok("/api/cases/case_1/unassign", json!({"version": 5}))
        .await;
    assert_eq!(
        ids(&bob.json("/api/review?assigned=unassigned").await),
        ["case_1"]
    );
    // The board's card shows the assignee to a viewer too.
    let vic = team.person_as("vic@example.com", Role::Viewer).await;
    let board = vic.json("/api/board/ON_HOLD").await;
    let card = board["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["externalId"] == "case_2")
        .unwrap();
    assert_eq!(card["case"]["assignee"], ANN);

    // Support and viewer may not work cases; support's user page shows no notes.
    for person in [&sue, &vic] {
        for (path, body) in [
            ("/api/cases/case_1/assign", json!({"version": 6})),
            ("/api/cases/case_1/unassign", json!({"version": 6})),
            ("/api/cases/case_1/notes", json!({"text": "x"})),
            (
                "/api/cases/case_1/marker",
                json!({"version": 6, "marker": null}),
            ),
        ] {
            let (status, answer) = person.post(path, body).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (403, Some("forbidden")),
                "{path}"
            );
        }
        assert_eq!(person.get("/api/cases/case_1").await.status, 403);
    }
    let page = sue.json("/api/users/case_1").await;
    assert_eq!(page["case"]["notes"], json!([]));
    assert_eq!(page["case"]["notesWithheld"], true);
    assert_eq!(page["case"]["marker"], "escalated");
    let page = ann.json("/api/users/case_1").await;
    assert_eq!(page["case"]["notes"].as_array().unwrap().len(), 2);
    assert!(!sue.get("/api/users/case_1").await.body.contains("passport"));

    // Every action is audited, the refused one too, and the log's chain holds.
    let entries = eventually("the case work in the audit log", || {
        let entries = team.audit();
        let notes = entries
            .iter()
            .filter(|e| e["action"] == "case-note")
            .count();
        let refused = entries
            .iter()
            .filter(|e| {
                e["action"] == "refused-by-role"
                    && e["target"]
                        .as_str()
                        .is_some_and(|t| t.contains("/api/cases/case_1"))
            })
            .count();
        async move {
            match notes >= 4 && refused >= 10 {
                true => Ok(entries),
                false => Err(format!("{notes} case-note entries, {refused} refusals")),
            }
        }
    })
    .await;
    let has = |actor: &str, action: &str, outcome: &str| {
        entries.iter().any(|e| {
            e["actor"] == actor
                && e["action"] == action
                && e["outcome"] == outcome
                && e["target"] == "case_1"
        })
    };
    assert!(has(ANN, "case-assign", "ok"));
    assert!(has(BOB, "case-note", "ok"));
    assert!(has(ANN, "case-note", "failed"));
    assert!(has(BOB, "case-unassign", "ok"));
    assert!(has(ANN, "case-marker", "ok") || has(BOB, "case-assign", "ok"));
    // A case taken from someone, or left by them, names whose it was.
    let details = |action: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == "ok" && e["target"] == "case_1")
            .map(|e| e["detail"].as_str().unwrap())
            .collect()
    };
    let assigned = details("case-assign");
    assert_eq!(assigned[0], "to themselves (on version 0)", "{assigned:?}");
    assert!(
        assigned[1].starts_with("to carol@example.com (on version ")
            && assigned[1].ends_with("), was ann@example.com's"),
        "{assigned:?}"
    );
    assert_eq!(
        details("case-unassign"),
        ["unassigned (on version 5), was carol@example.com's"]
    );
    // A note's text never reaches the audit log.
    assert!(!entries.iter().any(|e| e.to_string().contains("passport")));
    let verify = cli(&team.monitor.db, &["audit", "verify"]);
    assert!(verify.status.success(), "{verify:?}");

    // Exports: users carry their assignee and notes; the notes have their own kind.
    let users = export_jsonl(&team.monitor.db, "users");
    let user = users.iter().find(|u| u["externalId"] == "case_1").unwrap();
    assert_eq!(user["assignee"], Value::Null);
    assert_eq!(user["notes"][1]["text"], "Asked for a new photo.");
    assert_eq!(user["notes"][1]["author"], BOB);
    let user = users.iter().find(|u| u["externalId"] == "case_2").unwrap();
    assert_eq!(user["assignee"], ANN);
    assert_eq!(user["notes"], json!([]));
    let csv = stdout(&cli(&team.monitor.db, &["export", "users"]));
    let head = csv.lines().next().unwrap();
    assert!(
        head.ends_with(",eventCount,rejectionReason,statusSetAt,assignee,notes"),
        "{head}"
    );
    assert!(csv.contains("Asked for a new photo."));
    let notes = export_jsonl(&team.monitor.db, "notes");
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["externalId"], "case_1");
    assert_eq!(notes[0]["author"], ANN);
    assert!(notes[0]["writtenAt"].as_str().unwrap().ends_with('Z'));
    let csv = stdout(&cli(
        &team.monitor.db,
        &["export", "notes", "--format", "csv"],
    ));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,externalId,writtenAt,author,text"));
    assert!(lines.next().unwrap().contains("Called the customer"));
}

/// The assign box's suggestions: whoever signed in with a role that works cases, by their latest
/// role (someone moved to support is no longer offered); support may not ask.
#[tokio::test]
async fn the_people_offered_for_a_case_are_those_who_work_cases() {
    let team = Team::start(&[]);
    let ann = team.person_as(ANN, Role::Compliance).await;
    team.person_as(BOB, Role::Admin).await;
    team.person_as("dan@example.com", Role::Compliance).await;
    let sue = team.person_as("sue@example.com", Role::Support).await;
    team.person_as("vic@example.com", Role::Viewer).await;
    team.person_as("dan@example.com", Role::Support).await;
    eventually("six sign-ins in the audit log", || {
        let signed_in = team
            .audit()
            .iter()
            .filter(|entry| entry["action"] == "sign-in")
            .count();
        async move { (signed_in == 6).then_some(()).ok_or(format!("{signed_in}")) }
    })
    .await;
    let offered = ann.json("/api/case-workers").await;
    assert_eq!(offered, json!({"people": [ANN, BOB]}));
    assert_eq!(sue.get("/api/case-workers").await.status, 403);
}

/// The local UI of a single-person monitor: the token, and its reads and writes.
#[tokio::test]
async fn the_sla_clock_marks_late_cases_and_stands_still_while_waiting_on_the_customer() {
    let scratch = Scratch::new();
    let sla = ["--review-sla", "2s"];
    let mut monitor = Monitor::start_with_ui(&scratch.db(), &sla);
    let ui = local(&mut monitor);
    for id in ["late_1", "waits_1"] {
        let body = flat(id, "REVIEW", "ON_HOLD");
        assert_eq!(post(&monitor.webhook_url, body).await.status, 200);
    }
    // The local person is `local`; waits_1 waits on the customer from the start.
    let marked = ui
        .post(
            "/api/cases/waits_1/marker",
            json!({"version": 0, "marker": "waiting-on-customer"}),
        )
        .await;
    assert_eq!(marked["updatedBy"], "local");
    assert_eq!(marked["dueAt"], Value::Null);

    // late_1 passes the 2 s SLA: marked in the queue, counted in the top bar.
    let overview = eventually("late_1 over the SLA", || {
        let ui = &ui;
        async move {
            let overview = ui.json("/api/overview").await;
            match overview["attention"]["overSla"] == 1 {
                true => Ok(overview),
                false => Err(overview["attention"].to_string()),
            }
        }
    })
    .await;
    assert_eq!(overview["attention"]["toReview"], 2);
    assert_eq!(overview["attention"]["reviewSlaMs"], 2000);
    // The queue's late count is the same SLA, by the same clock: waits_1 has waited as long,
    // but on the customer.
    let queue = ui.json("/api/review").await;
    assert_eq!(
        (&queue["total"], &queue["overSla"], &queue["reviewSlaMs"]),
        (&2.into(), &1.into(), &2000.into()),
        "{queue}"
    );
    // Under a filter it counts what the filter lets through.
    let taken = ui
        .post("/api/cases/late_1/assign", json!({"version": 0}))
        .await;
    assert_eq!(taken["assignee"], "local", "{taken}");
    for (filter, over) in [("mine", 1), ("unassigned", 0)] {
        let queue = ui.json(&format!("/api/review?assigned={filter}")).await;
        assert_eq!(
            (&queue["total"], &queue["overSla"]),
            (&1.into(), &over.into()),
            "{filter}: {queue}"
        );
    }
    let late = ui.card("late_1").await;
    assert_eq!(late["overSla"], true);
    let waiting = ui.card("waits_1").await;
    assert_eq!(waiting["overSla"], false);
    let frozen = waiting["clockMs"].as_i64().unwrap();
    assert!(frozen < 2000, "{waiting}");
    // While late_1's clock runs on, waits_1's stands still.
    let started = late["clockMs"].as_i64().unwrap();
    eventually("late_1's clock to move on by half a second", || {
        let ui = &ui;
        async move {
            let clock = ui.card("late_1").await["clockMs"].as_i64().unwrap();
            match clock > started + 500 {
                true => Ok(()),
                false => Err(clock.to_string()),
            }
        }
    })
    .await;
    assert_eq!(ui.card("waits_1").await["clockMs"], frozen);

    // The customer answered: the clock runs again from where it stood, with a fixed due time
    // that a restart keeps.
    let resumed = ui
        .post(
            "/api/cases/waits_1/marker",
            json!({"version": 1, "marker": null}),
        )
        .await;
    let due = resumed["dueAt"].as_i64().expect("a due time once running");
    assert!(resumed["clockMs"].as_i64().unwrap() < 2000, "{resumed}");
    assert_eq!(monitor.terminate(), 0);
    let mut monitor = Monitor::start_with_ui(&scratch.db(), &sla);
    let ui = local(&mut monitor);
    assert_eq!(ui.card("waits_1").await["dueAt"], due);
    eventually("both over the SLA", || {
        let ui = &ui;
        async move {
            let attention = ui.json("/api/overview").await["attention"].clone();
            match attention["overSla"] == 2 {
                true => Ok(()),
                false => Err(attention.to_string()),
            }
        }
    })
    .await;
    assert_eq!(ui.card("waits_1").await["overSla"], true);
}

#[test]
fn a_review_sla_that_is_not_a_duration_is_a_usage_error() {
    let scratch = Scratch::new();
    let output = Command::new(BIN)
        .args(["serve", "--review-sla", "soon", "--db"])
        .arg(scratch.db())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--review-sla"), "{stderr}");
    assert!(stderr.contains("not a duration such as 24h"), "{stderr}");
}
