"""Prints the figures of bench/ingest from oha's JSON reports and checks the database."""
import json
import pathlib
import sqlite3
import sys

work = pathlib.Path(sys.argv[1])


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


def stored_deliveries(db):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM deliveries WHERE http_status = 200").fetchone()[0]


def check(db, acked):
    stored = stored_deliveries(work / db)
    verdict = "exactly the acked deliveries" if stored == acked else "MISMATCH"
    print(f"  {db} (WAL, synchronous=FULL): {stored:,} deliveries stored, {acked:,} acked: {verdict}")
    return stored == acked


print(f"{'run':<34}{'deliveries/s':>14}{'p50 ms':>9}{'p99 ms':>9}{'non-200':>9}")
acked = run("stored-warmup")["ok"]
for connections in (32, 256):
    stored, bare = run(f"stored-{connections}"), run(f"bare-{connections}")
    acked += stored["ok"]
    for label, r in ((f"stored, {connections} connections", stored), (f"bare axum, {connections} connections", bare)):
        print(f"{label:<34}{r['rate']:>14,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['other']:>9}")
    print(f"{'  stored / bare':<34}{stored['rate'] / bare['rate']:>14.2f}")
steady = run("steady-1000")
print(f"{'stored, steady 1,000/s, 32 conns':<34}{steady['rate']:>14,.0f}{steady['p50']:>9.2f}{steady['p99']:>9.2f}{steady['other']:>9}")
print("databases:")
exact = check("bench.db", acked) & check("steady.db", run("steady-warmup")["ok"] + steady["ok"])
sys.exit(0 if exact else 1)
