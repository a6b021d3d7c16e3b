"""Prints the figures of bench/ingest from oha's JSON reports and checks the database."""
import json
import pathlib
import sqlite3
import sys

work, db = pathlib.Path(sys.argv[1]), sys.argv[2]


def run(name):
    report = json.loads((work / f"{name}.json").read_text())
    codes = {int(k): v for k, v in report.get("statusCodeDistribution", {}).items()}
    latency = report["latencyPercentiles"]
    return {
        "rate": report["summary"]["requestsPerSec"],
        "p50": latency["p50"] * 1000,
        "p99": latency["p99"] * 1000,
        "ok": codes.get(200, 0),
        "other": sum(v for k, v in codes.items() if k != 200) + sum(report.get("errorDistribution", {}).values()),
    }


print(f"{'run':<34}{'deliveries/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'non-200':>9}")
acked = run("stored-warmup")["ok"]
for connections in (32, 256):
    stored, bare = run(f"stored-{connections}"), run(f"bare-{connections}")
    acked += stored["ok"]
    for label, r in ((f"stored, {connections} connections", stored), (f"bare axum, {connections} connections", bare)):
        print(f"{label:<34}{r['rate']:>14,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['other']:>9}")
    print(f"{'  stored / bare':<34}{stored['rate'] / bare['rate']:>14.2f}")
fixed = run("stored-rate-1000")
acked += fixed["ok"]
print(f"{'stored, fixed 1,000/s, 32 conns':<34}{fixed['rate']:>14,.0f}{fixed['p50']:>9.2f}{fixed['p99']:>9.2f}{fixed['other']:>9}")

with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
    stored_rows = conn.execute("SELECT count(*) FROM deliveries WHERE http_status = 200").fetchone()[0]
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
expected = acked
verdict = "exactly the acked deliveries" if stored_rows == expected else "MISMATCH"
print(f"database ({journal}, synchronous=FULL): {stored_rows:,} deliveries stored, {expected:,} acked: {verdict}")
sys.exit(0 if stored_rows == expected else 1)
