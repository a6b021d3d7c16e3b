//! The schema, as an ordered list of migrations tracked in `user_version`.

/// Marks a file as a KYC Monitor database ("KYCM"), kept in the SQLite header.
pub const APPLICATION_ID: i32 = 0x4B59_434D;

/// Migration `n` (1-based) takes the schema from version `n - 1` to `n`. Append only: a shipped
/// migration never changes.
pub const MIGRATIONS: &[&str] = &[
    // 1: deliveries as they arrived; events and users derived from them.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE deliveries (
        id          INTEGER PRIMARY KEY,
        received_at INTEGER NOT NULL,
        remote_addr TEXT NOT NULL,
        method      TEXT NOT NULL,
        headers     TEXT NOT NULL,
        body        BLOB,
        body_size   INTEGER,
        webhook_id  TEXT,
        outcome     TEXT NOT NULL CHECK (outcome IN ('accepted', 'duplicate', 'ping', 'rejected')),
        http_status INTEGER NOT NULL,
        error       TEXT
    ) STRICT;
    CREATE INDEX deliveries_by_webhook_id ON deliveries (webhook_id) WHERE webhook_id IS NOT NULL;

    -- An event is what one delivery said about one user, so it shares the delivery's id.
    CREATE TABLE events (
        delivery_id    INTEGER PRIMARY KEY REFERENCES deliveries (id),
        received_at    INTEGER NOT NULL,
        external_id    TEXT NOT NULL,
        decision       TEXT NOT NULL,
        status         TEXT NOT NULL,
        sub_status     TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        account        TEXT NOT NULL,
        event_id       TEXT,
        duplicate      INTEGER NOT NULL CHECK (duplicate IN (0, 1))
    ) STRICT;
    CREATE INDEX events_by_user ON events (external_id, delivery_id);
    CREATE INDEX events_by_event_id ON events (event_id) WHERE event_id IS NOT NULL;

    CREATE TABLE users (
        external_id    TEXT PRIMARY KEY,
        decision       TEXT NOT NULL,
        status         TEXT NOT NULL,
        sub_status     TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        account        TEXT NOT NULL,
        first_seen_at  INTEGER NOT NULL,
        last_seen_at   INTEGER NOT NULL,
        status_since   INTEGER NOT NULL,
        event_count    INTEGER NOT NULL,
        last_event_id  INTEGER NOT NULL REFERENCES events (delivery_id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 2: what the board needs at millions of users: counts kept by the writer instead of
    // counted per view, and each status's users newest first.
    r#"
    CREATE TABLE user_counts (
        status   TEXT NOT NULL,
        decision TEXT NOT NULL,
        users    INTEGER NOT NULL,
        PRIMARY KEY (status, decision)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO user_counts (status, decision, users)
        SELECT status, decision, count(*) FROM users GROUP BY status, decision;
    CREATE INDEX users_by_status ON users (status, status_since DESC, external_id);
    CREATE INDEX deliveries_by_outcome ON deliveries (outcome, id);
    -- A delivery sent again from the UI through the normal path names the one it repeats.
    ALTER TABLE deliveries ADD COLUMN replay_of INTEGER REFERENCES deliveries (id);
    -- Deliveries per minute (Unix minutes), kept by the writer, for the stats' recent activity.
    CREATE TABLE delivery_minutes (
        minute     INTEGER PRIMARY KEY,
        deliveries INTEGER NOT NULL,
        rejected   INTEGER NOT NULL
    ) STRICT;
    INSERT INTO delivery_minutes (minute, deliveries, rejected)
        SELECT received_at / 60000, count(*), sum(outcome = 'rejected') FROM deliveries GROUP BY received_at / 60000;
    -- How many closed users took how long from first seen to CLOSED, by close_bucket (see
    -- projection.rs): the median is read from these few rows, not from a million users.
    CREATE TABLE close_times (
        bucket INTEGER PRIMARY KEY,
        users  INTEGER NOT NULL
    ) STRICT;
    INSERT INTO close_times (bucket, users)
        SELECT length(CAST(max(status_since - first_seen_at, 0) AS TEXT)) * 1000
               + CAST(substr(CAST(max(status_since - first_seen_at, 0) AS TEXT), 1, 3) AS INTEGER),
               count(*)
          FROM users WHERE status = 'CLOSED' GROUP BY 1;
    "#,
    // 3: the provider side: registration attempts, and states learned by asking the provider
    // rather than from a webhook (kept as deliveries, so a rebuild still needs nothing else).
    r#"
    ALTER TABLE deliveries ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook'
        CHECK (source IN ('webhook', 'poll'));
    CREATE TABLE registrations (
        id           INTEGER PRIMARY KEY,
        attempted_at INTEGER NOT NULL,
        webhook_url  TEXT NOT NULL,
        form         TEXT NOT NULL CHECK (form IN ('webhookUrl', 'webhook_url')),
        api_base     TEXT NOT NULL,
        client_id    TEXT NOT NULL,
        -- NULL when the provider could not be asked (the message says why).
        validated    INTEGER CHECK (validated IN (0, 1)),
        message      TEXT NOT NULL,
        http_status  INTEGER
    ) STRICT;
    "#,
    // 4: journal-first ingestion. The acknowledgement only appends to deliveries (the journal);
    // the projector derives the rest and keeps here how far it got, in the same transaction.
    // Everything journaled so far was projected by the writer that journaled it.
    r#"
    CREATE TABLE projection (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        through INTEGER NOT NULL
    ) STRICT;
    INSERT INTO projection (id, through) SELECT 1, coalesce(max(id), 0) FROM deliveries;
    "#,
    // 5: forwarding to the user's own backends, and retention. The projector puts every
    // accepted delivery in the outbox of each active destination; the forwarder works it off.
    r#"
    CREATE TABLE destinations (
        id       INTEGER PRIMARY KEY,
        url      TEXT NOT NULL UNIQUE,
        -- Configured for the running monitor: new deliveries go to it.
        active   INTEGER NOT NULL CHECK (active IN (0, 1)),
        paused   INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
        added_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE forwards (
        destination_id  INTEGER NOT NULL REFERENCES destinations (id),
        delivery_id     INTEGER NOT NULL REFERENCES deliveries (id),
        external_id     TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_try_at     INTEGER NOT NULL,
        first_attempt_at INTEGER,
        last_attempt_at INTEGER,
        last_status     INTEGER,
        last_error      TEXT,
        PRIMARY KEY (destination_id, delivery_id)
    ) STRICT, WITHOUT ROWID;
    -- What a forwarder works off: its pending deliveries, oldest first, and per user (a user's
    -- deliveries go out in order).
    CREATE INDEX forwards_pending ON forwards (destination_id, delivery_id) WHERE state = 'pending';
    CREATE INDEX forwards_pending_by_user ON forwards (destination_id, external_id, delivery_id)
        WHERE state = 'pending';
    CREATE INDEX forwards_by_delivery ON forwards (delivery_id);
    -- Set when retention removed the raw body and headers (the event keeps its own fields).
    ALTER TABLE deliveries ADD COLUMN trimmed INTEGER NOT NULL DEFAULT 0 CHECK (trimmed IN (0, 1));
    "#,
    // 6: search anywhere in externalId, participantId and account (store/search.rs): a trigram
    // index kept by triggers on users, filled from the users there are.
    concat!(
        super::search::search_tables!(),
        super::search::search_triggers!()
    ),
    // 7: the compliance stats, kept by the projector (see `Tallies` in projection.rs for what
    // counts): decisions per UTC day, how many users ever reached each documented status (each
    // user remembers which it reached, one bit a status), and how long finished stays in a
    // status lasted, by close_bucket. Filled here from the events there are, duplicates aside.
    r#"
    ALTER TABLE users ADD COLUMN statuses_reached INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE decision_days (
        day      INTEGER NOT NULL,
        decision TEXT NOT NULL,
        users    INTEGER NOT NULL,
        PRIMARY KEY (day, decision)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE status_reached (
        status TEXT PRIMARY KEY,
        users  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE status_stays (
        status TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        users  INTEGER NOT NULL,
        PRIMARY KEY (status, bucket)
    ) STRICT, WITHOUT ROWID;
    UPDATE users SET statuses_reached = (
        SELECT coalesce(sum(DISTINCT CASE status WHEN 'NOT_STARTED' THEN 1 WHEN 'OPEN' THEN 2
                                                 WHEN 'ON_HOLD' THEN 4 WHEN 'CLOSED' THEN 8 END), 0)
          FROM events WHERE events.external_id = users.external_id AND duplicate = 0);
    INSERT INTO status_reached (status, users)
        SELECT status, count(DISTINCT external_id) FROM events
         WHERE duplicate = 0 AND status IN ('NOT_STARTED', 'OPEN', 'ON_HOLD', 'CLOSED')
         GROUP BY status;
    INSERT INTO decision_days (day, decision, users)
        SELECT received_at / 86400000, decision, count(*) FROM (
            SELECT received_at, decision,
                   lag(decision) OVER (PARTITION BY external_id ORDER BY delivery_id) AS before
              FROM events WHERE duplicate = 0)
         WHERE decision <> '' AND decision IS NOT before
         GROUP BY 1, 2;
    -- A stay begins with an event whose status differs from the one before it, and ends
    -- where the next one begins.
    WITH entries AS (
        SELECT external_id, status, received_at, delivery_id,
               status IS NOT lag(status) OVER (PARTITION BY external_id ORDER BY delivery_id) AS enters
          FROM events WHERE duplicate = 0
    ), stays AS (
        SELECT status, max(lead(received_at) OVER (PARTITION BY external_id ORDER BY delivery_id)
                           - received_at, 0) AS millis
          FROM entries WHERE enters
    )
    INSERT INTO status_stays (status, bucket, users)
        SELECT status, length(CAST(millis AS TEXT)) * 1000 + CAST(substr(CAST(millis AS TEXT), 1, 3) AS INTEGER),
               count(*)
          FROM stays WHERE millis IS NOT NULL GROUP BY 1, 2;
    "#,
    // 8: refused requests past the budget (ingest.rs), counted per remote address, minute and
    // reason instead of kept one by one.
    r#"
    CREATE TABLE refused_counts (
        remote_addr TEXT NOT NULL,
        minute      INTEGER NOT NULL,
        reason      TEXT NOT NULL,
        requests    INTEGER NOT NULL,
        PRIMARY KEY (remote_addr, minute, reason)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX refused_counts_by_minute ON refused_counts (minute);
    "#,
    // 9: the audit log (store/audit.rs): append-only, each entry chained to the one before by
    // a SHA-256 over the previous hash and its own content. Never trimmed by retention. `role`
    // is '' where nobody was signed in. `audit_head` keeps the last entry's seq and hash,
    // written with it: a log cut short at its end no longer reaches the head.
    r#"
    CREATE TABLE audit_log (
        seq         INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        role        TEXT NOT NULL,
        action      TEXT NOT NULL,
        target      TEXT NOT NULL,
        remote_addr TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        detail      TEXT NOT NULL,
        hash        BLOB NOT NULL
    ) STRICT;
    CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
    CREATE INDEX audit_log_by_action ON audit_log (action, seq);
    CREATE INDEX audit_log_by_target ON audit_log (target, seq);
    CREATE INDEX audit_log_by_at ON audit_log (at);
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash BLOB NOT NULL
    ) STRICT;
    "#,
    // 10: team sessions (store/sessions.rs). The cookie's secret is kept only as its SHA-256,
    // and the CSRF token is derived from that secret, so the table holds neither in the clear.
    r#"
    CREATE TABLE sessions (
        id_hash      BLOB PRIMARY KEY,
        user         TEXT NOT NULL,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        ended_at     INTEGER
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sessions_by_user ON sessions (user) WHERE ended_at IS NULL;
    CREATE INDEX sessions_by_created_at ON sessions (created_at);
    "#,
    // 11: users to watch (the newer API names a user only once final): a watched user's
    // NOT_STARTED is journaled as a delivery marked here (`source`'s CHECK cannot be widened).
    r#"
    ALTER TABLE deliveries ADD COLUMN watched INTEGER NOT NULL DEFAULT 0 CHECK (watched IN (0, 1));
    "#,
    // 12: what the newer envelope says beyond the state: why a user was rejected, and when the
    // provider set the status (Unix ms). A user keeps the reason and time of the event that set
    // its state, and `stay_from`: when its counted stay in the status began (the provider's
    // time where known, else the arrival), NULL when a replay set the status (a replay never
    // counts in the stats). Filled here from the stored bodies; stays already counted keep
    // their arrival times (`rebuild` derives them again with the provider's).
    r#"
    ALTER TABLE events ADD COLUMN rejection_reason TEXT;
    ALTER TABLE events ADD COLUMN status_set_at INTEGER;
    ALTER TABLE users ADD COLUMN rejection_reason TEXT;
    ALTER TABLE users ADD COLUMN status_set_at INTEGER;
    ALTER TABLE users ADD COLUMN stay_from INTEGER;
    WITH said AS (
        SELECT id, json_extract(text, '$.data.rejection_reason') AS reason,
               json_extract(text, '$.data.status_set_at') AS set_at
          FROM (SELECT id, CAST(body AS TEXT) AS text FROM deliveries
                 WHERE outcome IN ('accepted', 'duplicate') AND body IS NOT NULL)
         WHERE json_valid(text) AND json_type(text, '$.event_type') IS NOT NULL
    )
    UPDATE events SET
        rejection_reason = (SELECT CASE WHEN typeof(reason) = 'text' AND trim(reason) <> ''
                                        THEN reason END FROM said WHERE said.id = delivery_id),
        status_set_at = (SELECT CASE WHEN typeof(set_at) = 'text' AND julianday(set_at) IS NOT NULL
                                     THEN CAST(round((julianday(set_at) - 2440587.5) * 86400000.0) AS INTEGER)
                                END FROM said WHERE said.id = delivery_id);
    UPDATE users SET
        rejection_reason = (SELECT rejection_reason FROM events WHERE delivery_id = last_event_id),
        status_set_at = (SELECT status_set_at FROM events WHERE delivery_id = last_event_id
                            AND status_since = received_at);
    UPDATE users SET stay_from = coalesce(status_set_at, status_since);
    "#,
    // 13: case work on the review queue (store/cases.rs). One row per user someone worked on,
    // versioned so that a write made on a stale view is refused; the SLA clock's paused time is
    // kept (per entry into the status, `clock_since`) so it is exact across restarts. Notes are
    // append-only: the triggers refuse any change or removal.
    r#"
    CREATE TABLE cases (
        external_id   TEXT PRIMARY KEY,
        version       INTEGER NOT NULL,
        assignee      TEXT,
        marker        TEXT CHECK (marker IN ('waiting-on-customer', 'escalated')),
        clock_since   INTEGER NOT NULL,
        paused_ms     INTEGER NOT NULL,
        waiting_since INTEGER,
        updated_at    INTEGER NOT NULL,
        updated_by    TEXT NOT NULL,
        last_action   TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX cases_by_assignee ON cases (assignee) WHERE assignee IS NOT NULL;
    CREATE TABLE case_notes (
        id          INTEGER PRIMARY KEY,
        external_id TEXT NOT NULL,
        written_at  INTEGER NOT NULL,
        author      TEXT NOT NULL,
        text        TEXT NOT NULL
    ) STRICT;
    CREATE INDEX case_notes_by_user ON case_notes (external_id, id);
    CREATE TRIGGER case_notes_never_change BEFORE UPDATE ON case_notes
    BEGIN SELECT RAISE(ABORT, 'case notes are append-only'); END;
    CREATE TRIGGER case_notes_never_go BEFORE DELETE ON case_notes
    BEGIN SELECT RAISE(ABORT, 'case notes are append-only'); END;
    "#,
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}
