//! Search anywhere: in the externalId, participantId and account, ignoring case, over users
//! ingested through the real listener; kept up to date as ids change, and made for users that
//! were there before the index was.

mod support;

use kyc_monitor::store::Store;
use support::*;

fn approved(external_id: &str) -> String {
    serde_json::json!({
        "externalId": external_id, "decision": "ACCEPT", "status": "CLOSED", "subStatus": "",
        "participantId": format!("firms/ISV-Participant-Acme/users/{external_id}"),
        "account": format!("firms/ISV-Acme/accounts/ACC-{}", external_id.to_uppercase()),
    })
    .to_string()
}

async fn ingest(monitor: &Monitor, bodies: &[String]) {
    for body in bodies {
        assert_eq!(post(&monitor.webhook_url, body.clone()).await.status, 200);
    }
    let reader = Store::open(&monitor.db).unwrap().reader().unwrap();
    assert_eq!(reader.settle(std::time::Duration::from_secs(5)).unwrap(), 0);
}

fn found(db: &std::path::Path, text: &str) -> Vec<String> {
    Store::open(db)
        .unwrap()
        .reader()
        .unwrap()
        .search_users(text, 20)
        .unwrap()
        .into_iter()
        .map(|user| user.external_id)
        .collect()
}

#[tokio::test]
async fn search_finds_text_anywhere_in_the_ids_ignoring_case_prefixes_first() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    ingest(
        &monitor,
        &[
            flat("user_4999", "", "OPEN"),
            flat("USER_1499", "", "OPEN"),
            flat("4999_first", "", "OPEN"),
            flat("other", "", "OPEN"),
        ],
    )
    .await;
    let db = scratch.db();
    // In the middle, and whatever the case.
    assert_eq!(found(&db, "4999"), ["4999_first", "user_4999"]);
    assert_eq!(found(&db, "user_"), ["user_4999", "USER_1499"]);
    assert_eq!(found(&db, "ER_14"), ["USER_1499"]);
    // Two characters cannot be a substring of the index (trigrams): a prefix, as typed.
    assert_eq!(found(&db, "ot"), ["other"]);
    assert!(found(&db, "zz").is_empty());
    // Quotes and FTS syntax are text.
    assert!(found(&db, "\"or\" OR *").is_empty());

    // Approval brings the participantId and account: searchable from then on.
    ingest(&monitor, &[approved("other")]).await;
    assert_eq!(found(&db, "acc-oth"), ["other"]);
    assert_eq!(found(&db, "Participant-Acme/users/oth"), ["other"]);
}

#[tokio::test]
async fn search_takes_what_people_paste_separators_alike_the_exact_id_first() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    ingest(
        &monitor,
        &[
            flat("user_48210", "", "OPEN"),
            flat("a_user_4821", "", "OPEN"),
            flat("user_4821", "", "OPEN"),
            flat("user-4821-b", "", "OPEN"),
            flat("user4821", "", "OPEN"),
            flat("ab-12", "", "OPEN"),
        ],
    )
    .await;
    let db = scratch.db();
    let all = ["user_4821", "user_48210", "user-4821-b", "a_user_4821"];
    // `-`, `_`, `.` and spaces are one separator; the exact id comes first, whatever the case.
    for typed in [
        "user_4821",
        "USER-4821",
        "user 4821",
        "User.4821",
        "  user_4821\t\n",
        "user - 4821",
    ] {
        assert_eq!(found(&db, typed), all, "{typed:?}");
    }
    // A separator is not nothing.
    assert!(!found(&db, "user 4821").contains(&"user4821".to_string()));
    // Parts too short for trigrams: the whole text, separators alike.
    assert_eq!(found(&db, "AB 12"), ["ab-12"]);
    assert!(found(&db, "   ").is_empty());
}

#[test]
fn a_database_from_before_the_index_is_searchable_once_migrated() {
    let scratch = Scratch::new();
    Store::open(&scratch.db()).unwrap();
    // As an older version left it: users, no index (and none of the later stats).
    let conn = rusqlite::Connection::open(scratch.db()).unwrap();
    conn.execute_batch(
        "DROP TRIGGER users_search_insert; DROP TRIGGER users_search_update;
         DROP TRIGGER users_search_delete; DROP TABLE user_search; DROP TABLE user_search_ids;
         DROP TABLE decision_days; DROP TABLE status_reached; DROP TABLE status_stays;
         ALTER TABLE users DROP COLUMN statuses_reached; DROP TABLE refused_counts;
         DROP TABLE audit_log; DROP TABLE audit_head; DROP TABLE sessions;
         ALTER TABLE deliveries DROP COLUMN watched;
         ALTER TABLE events DROP COLUMN rejection_reason; ALTER TABLE events DROP COLUMN status_set_at;
         ALTER TABLE users DROP COLUMN rejection_reason; ALTER TABLE users DROP COLUMN status_set_at;
         ALTER TABLE users DROP COLUMN stay_from;
         DROP TABLE case_notes; DROP TABLE cases;
         INSERT INTO deliveries (id, received_at, remote_addr, method, headers, outcome, http_status)
              VALUES (1, 0, '127.0.0.1:9', 'POST', '[]', 'accepted', 200);
         INSERT INTO events (delivery_id, received_at, external_id, decision, status, sub_status,
                             participant_id, account, event_id, duplicate)
              VALUES (1, 0, 'legacy_777', 'ACCEPT', 'CLOSED', '', 'p/legacy', 'ACC-9', NULL, 0);
         INSERT INTO users VALUES ('legacy_777', 'ACCEPT', 'CLOSED', '', 'p/legacy', 'ACC-9',
                                   0, 0, 0, 1, 1);
         PRAGMA user_version = 5;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(found(&scratch.db(), "acy_77"), ["legacy_777"]);
    assert_eq!(found(&scratch.db(), "acc-9"), ["legacy_777"]);
}

#[tokio::test]
async fn users_that_arrive_after_a_rebuild_are_found() {
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    ingest(&monitor, &[flat("before_rebuild", "", "OPEN")]).await;
    drop(monitor);
    // The swap drops the old users table and the index's triggers with it.
    assert!(cli(&scratch.db(), &["rebuild"]).status.success());
    let monitor = Monitor::start(&scratch.db(), &[]);
    ingest(&monitor, &[flat("after_rebuild", "", "OPEN")]).await;
    assert_eq!(
        found(&scratch.db(), "_rebuild"),
        ["after_rebuild", "before_rebuild"]
    );
}

/// Rows of the index itself (not the checked search) holding `text`.
fn indexed(db: &std::path::Path, text: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*) FROM user_search WHERE user_search MATCH ?1",
        [format!("\"{text}\"")],
        |row| row.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_moved_many_times_at_once_are_indexed_by_their_last_ids_only() {
    // The projector writes a batch's users in one statement (one index segment a batch): new
    // users and users whose ids changed several times in the same batches.
    let scratch = Scratch::new();
    let monitor = Monitor::start(&scratch.db(), &[]);
    for round in 0..5 {
        let sends = (0..40).map(|user| {
            let body = serde_json::json!({
                "externalId": format!("mover_{user:03}"), "decision": "", "status": "OPEN",
                "subStatus": "", "participantId": format!("round{round}-p-{user:03}"),
                "account": format!("round{round}-a-{user:03}"),
            })
            .to_string();
            let url = monitor.webhook_url.clone();
            tokio::spawn(async move { post(&url, body).await.status })
        });
        for send in sends.collect::<Vec<_>>() {
            assert_eq!(send.await.unwrap(), 200);
        }
    }
    let reader = Store::open(&monitor.db).unwrap().reader().unwrap();
    assert_eq!(reader.settle(std::time::Duration::from_secs(5)).unwrap(), 0);
    let db = scratch.db();
    for user in 0..40 {
        let id = format!("mover_{user:03}");
        assert_eq!(found(&db, &format!("round4-p-{user:03}")), [id.as_str()]);
        assert_eq!(found(&db, &format!("ROUND4-A-{user:03}")), [id.as_str()]);
        assert_eq!(indexed(&db, &format!("round4-p-{user:03}")), 1, "{id}");
        assert_eq!(indexed(&db, &id), 1, "{id}");
        for earlier in 0..4 {
            assert_eq!(
                indexed(&db, &format!("round{earlier}-p-{user:03}")),
                0,
                "{id}"
            );
            assert_eq!(
                indexed(&db, &format!("round{earlier}-a-{user:03}")),
                0,
                "{id}"
            );
        }
    }
    let integrity = rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO user_search (user_search) VALUES ('integrity-check')",
            [],
        )
        .map(|_| ());
    assert_eq!(integrity, Ok(()));
}
