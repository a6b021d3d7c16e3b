"""Reads `perf script` output (samples with call graphs) of `kyc-monitor serve` from stdin and
prints the share of the samples in each stage of a delivery: each sample goes to the first
stage, in the order below, that one of its frames (or its thread) belongs to. Used by
bench/ingest-profile."""

import collections
import sys

# (stage, thread name prefix or None for any, substrings of a frame's symbol). First match wins.
STAGES = [
    ("checkpointer", "kyc-checkpoint", [""]),
    ("fsync (the commit's)", None, ["ext4_sync_file", "sys_fsync", "sys_fdatasync", "unixSync"]),
    ("signature", None, ["signature::", "ed25519", "hmac"]),
    ("parse (listener)", "tokio", ["kyc::parse_payload"]),
    ("parse (projector)", "kyc-writer", ["kyc::parse_payload"]),
    ("projector: the search index (FTS5)", "kyc-writer", ["fts5", "Fts5"]),
    ("feed (changes announced)", "kyc-writer", ["broadcast", "live::"]),
    ("projector", "kyc-writer", ["projection::project", "writer::project", "catch_up"]),
    ("audit queue", "kyc-writer", ["audit_queue"]),
    ("journal append (SQL)", "kyc-writer", ["journal::Append", "Append::delivery"]),
    ("journal commit (WAL write)", "kyc-writer", ["append_batch", "Transaction::commit", "sqlite3WalFrames", "sqlite3PagerCommitPhaseOne"]),
    ("ack wake-ups (answers sent)", "kyc-writer", ["oneshot", "acknowledge", "wake"]),
    ("writer: waiting for work", "kyc-writer", ["recv", "futex", "schedule"]),
    ("writer: other", "kyc-writer", [""]),
    ("HTTP: hyper's room for max_headers", "tokio", ["SmallVec<A>::from_elem"]),
    ("delivery handed to the writer", "tokio", ["Writer::record", "mpsc", "oneshot"]),
    ("headers recorded, the delivery built", "tokio", ["recorded_headers", "record_request"]),
    ("HTTP (hyper, axum, sockets, tokio)", None, [""]),
]


def classify(comm, frames):
    for stage, thread, needles in STAGES:
        if thread is not None and not comm.startswith(thread):
            continue
        for needle in needles:
            if needle == "" or any(needle in frame for frame in frames):
                return stage
    return "other"


def samples(lines):
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            # Header: "comm tid period:" (the thread name may hold spaces).
            comm, frames = line.rsplit(None, 2)[0].strip(), []
        else:
            parts = line.split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else "")
    if comm is not None:
        yield comm, frames


totals = collections.Counter()
threads = collections.Counter()
for comm, frames in samples(sys.stdin):
    totals[classify(comm, frames)] += 1
    threads[comm] += 1
count = sum(totals.values()) or 1
print(f"perf: {count} samples of the stored server")
for stage, n in totals.most_common():
    print(f"  {stage:<42}{100 * n / count:>6.1f}%")
print("by thread:")
for comm, n in threads.most_common():
    print(f"  {comm:<42}{100 * n / count:>6.1f}%")
