//! Databases big enough for a command to be caught midway.

use std::path::Path;

use super::{flat, post, Monitor};

/// Makes `db` a database whose journal holds `deliveries` accepted deliveries of distinct users
/// (`bulk_1`, `bulk_2`, ...), each carrying `note_bytes` of random text, and projects them.
/// One delivery arrives over HTTP; the rest are copies of it made in SQL (tens of thousands
/// over HTTP would take a debug build minutes). The next start projects them, as after a crash.
pub async fn bulk_database(db: &Path, deliveries: u64, note_bytes: u64) {
    let monitor = Monitor::start(db, &[]);
    let answer = post(&monitor.webhook_url, flat("bulk_0", "", "OPEN")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(monitor.terminate(), 0);
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO deliveries
                (received_at, remote_addr, method, headers, body, body_size, outcome, http_status)
         SELECT seed.received_at + i, seed.remote_addr, seed.method, seed.headers, made,
                length(made), 'accepted', 200
           FROM deliveries AS seed,
                (SELECT i, CAST('{\"externalId\":\"bulk_' || i
                     || '\",\"decision\":\"\",\"status\":\"OPEN\",\"subStatus\":\"\",'
                     || '\"participantId\":\"\",\"account\":\"\",\"note\":\"'
                     || hex(randomblob(?2 / 2)) || '\"}' AS BLOB) AS made FROM n)
          WHERE seed.id = 1",
        rusqlite::params![deliveries as i64 - 1, note_bytes as i64],
    )
    .unwrap();
    drop(conn);
    // The start projects what the journal holds beyond the projection before it listens.
    let monitor = Monitor::start(db, &[]);
    assert_eq!(monitor.terminate(), 0);
}
