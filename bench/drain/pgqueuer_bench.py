#!/usr/bin/env python3
"""pgqueuer side of the drain benchmark (run with the venv's python: pgqueuer 1.6.0 + asyncpg).

Subcommands (each prints one JSON object on stdout unless said otherwise):

  enqueue --dsn DSN --count N --chunk C
          `Queries.enqueue` of N jobs (entrypoint "noop", no payload) in batch calls of C, on one
          asyncpg connection; wall clock on the client around all the calls.

  worker  --dsn DSN --batch B --ready FILE [--handler-log FILE]
          One PgQueuer on one asyncpg connection, one async no-op entrypoint "noop",
          `run(batch_size=B)` in continuous mode until killed. Before `run` starts it writes its own
          CPU seconds so far (start-up: imports, connect) to FILE, so the bench can leave them out.
          With --handler-log, each handler call appends "job_id<TAB>time.time()" (pickup mode).

  pickup  --dsn DSN --count N --rate R --out FILE
          N single-job enqueues at R per second on one connection (absolute schedule); writes
          "job_id<TAB>client time just before the enqueue" lines to FILE.

  pickup-stats --dsn DSN --sends FILE --handler-logs FILE... 
          Latencies in ms from the client's clock before the enqueue to (a) the handler's start
          (worker clock: same machine) and (b) the pick (the 'picked' row in pgqueuer_log, database
          clock). p50 / p99 / max.

  drain-stats --dsn DSN --count N
          From pgqueuer's own log: N / (last 'successful' created - first 'picked' created); checks
          that pgqueuer is empty and that exactly N jobs were logged 'successful' once each.

Every subcommand runs on uvloop when it is installed (pgqueuer 1.6.0 depends on it off Windows, and
`pgq run` uses it: pgqueuer.adapters.cli.cli.asyncio_run); `--loop asyncio` forces plain asyncio.

The API used is that of pgqueuer 1.6.0 as installed (pgqueuer.PgQueuer, pgqueuer.db.AsyncpgDriver,
pgqueuer.queries.Queries, pgqueuer.models.Job).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time


def percentile(v: list[float], p: float) -> float:
    if not v:
        return float("nan")
    return v[max(1, math.ceil(p * len(v))) - 1]


def summary(values: list[float]) -> dict:
    v = sorted(values)
    return {"n": len(v), "p50": percentile(v, 0.5), "p99": percentile(v, 0.99), "max": v[-1] if v else float("nan"),
            "min": v[0] if v else float("nan")}


async def connect(dsn: str):
    import asyncpg

    return await asyncpg.connect(dsn)


async def enqueue(a) -> int:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await connect(a.dsn)
    try:
        q = Queries(AsyncpgDriver(conn))
        chunks = []
        left = a.count
        while left > 0:
            n = min(a.chunk, left)
            chunks.append((["noop"] * n, [None] * n, [0] * n))
            left -= n
        ids = 0
        t0 = time.time()
        for entrypoints, payloads, priorities in chunks:
            ids += len(await q.enqueue(entrypoints, payloads, priorities))
        secs = time.time() - t0
    finally:
        await conn.close()
    print(json.dumps({"jobs": a.count, "calls": len(chunks), "chunk": a.chunk, "seconds": secs,
                      "rate": a.count / secs if secs > 0 else 0, "ids": ids}))
    return 0 if ids == a.count else 1


async def worker(a) -> int:
    from pgqueuer import PgQueuer
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job

    conn = await connect(a.dsn)
    pgq = PgQueuer(AsyncpgDriver(conn))
    log = open(a.handler_log, "a", buffering=1) if a.handler_log else None

    if log is None:
        @pgq.entrypoint("noop")
        async def noop(job: Job) -> None:
            return None
    else:
        @pgq.entrypoint("noop")
        async def noop(job: Job) -> None:  # noqa: F811
            log.write(f"{job.id}\t{time.time():.6f}\n")

    with open(a.ready, "w") as f:
        f.write(f"{time.process_time():.3f}\n")
    await pgq.run(batch_size=a.batch)
    return 0


async def pickup(a) -> int:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await connect(a.dsn)
    late = 0
    try:
        q = Queries(AsyncpgDriver(conn))
        interval = 1.0 / a.rate
        start = time.time() + 0.05
        with open(a.out, "w") as out:
            for k in range(a.count):
                due = start + k * interval
                now = time.time()
                if due > now:
                    await asyncio.sleep(due - now)
                elif now - due > interval:
                    late += 1
                t = time.time()
                (job_id,) = await q.enqueue("noop", None, 0)
                out.write(f"{job_id}\t{t:.6f}\n")
    finally:
        await conn.close()
    print(json.dumps({"jobs": a.count, "rate": a.rate, "late_sends": late}))
    return 0


async def pickup_stats(a) -> int:
    sends = {}
    for line in open(a.sends):
        j, t = line.split("\t")
        sends[int(j)] = float(t)
    handled = {}
    for path in a.handler_logs:
        for line in open(path):
            j, t = line.split("\t")
            handled.setdefault(int(j), float(t))
    conn = await connect(a.dsn)
    try:
        rows = await conn.fetch("""SELECT job_id, min(extract(epoch FROM created))::float8 AS t FROM pgqueuer_log
                                   WHERE status = 'picked' AND job_id = ANY($1::bigint[]) GROUP BY job_id""",
                                list(sends))
    finally:
        await conn.close()
    picked = {r["job_id"]: r["t"] for r in rows}
    missing = [j for j in sends if j not in handled]
    handler_ms = [(handled[j] - t) * 1000 for j, t in sends.items() if j in handled]
    pick_ms = [(picked[j] - t) * 1000 for j, t in sends.items() if j in picked]
    print(json.dumps({"jobs": len(sends), "unhandled": len(missing), "handler_ms": summary(handler_ms),
                      "picked_ms": summary(pick_ms)}))
    return 0 if not missing else 1


async def drain_stats(a) -> int:
    conn = await connect(a.dsn)
    try:
        left = await conn.fetchval("SELECT count(*) FROM pgqueuer")
        r = await conn.fetchrow("""SELECT count(*) FILTER (WHERE status = 'successful') AS ok,
                                          count(DISTINCT job_id) FILTER (WHERE status = 'successful') AS ok_distinct,
                                          count(*) FILTER (WHERE status NOT IN ('queued', 'picked', 'successful')) AS other,
                                          extract(epoch FROM min(created) FILTER (WHERE status = 'picked'))::float8 AS first_pick,
                                          extract(epoch FROM max(created) FILTER (WHERE status = 'successful'))::float8 AS last_done
                                   FROM pgqueuer_log""")
    finally:
        await conn.close()
    span = (r["last_done"] - r["first_pick"]) if r["last_done"] and r["first_pick"] else 0
    out = {"left": left, "successful": r["ok"], "successful_distinct": r["ok_distinct"], "other": r["other"],
           "span_seconds": span, "rate": a.count / span if span > 0 else 0}
    print(json.dumps(out))
    ok = left == 0 and r["ok"] == a.count and r["ok_distinct"] == a.count and r["other"] == 0
    if not ok:
        print(f"error: pgqueuer drain: {json.dumps(out)} (expected {a.count} successful, nothing left)", file=sys.stderr)
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("enqueue")
    e.add_argument("--dsn", required=True)
    e.add_argument("--count", type=int, required=True)
    e.add_argument("--chunk", type=int, default=5000)
    w = sub.add_parser("worker")
    w.add_argument("--dsn", required=True)
    w.add_argument("--batch", type=int, default=100)
    w.add_argument("--ready", required=True)
    w.add_argument("--handler-log")
    k = sub.add_parser("pickup")
    k.add_argument("--dsn", required=True)
    k.add_argument("--count", type=int, default=1000)
    k.add_argument("--rate", type=float, default=100)
    k.add_argument("--out", required=True)
    s = sub.add_parser("pickup-stats")
    s.add_argument("--dsn", required=True)
    s.add_argument("--sends", required=True)
    s.add_argument("--handler-logs", nargs="+", required=True)
    d = sub.add_parser("drain-stats")
    d.add_argument("--dsn", required=True)
    d.add_argument("--count", type=int, required=True)
    for sp in (e, w, k, s, d):
        sp.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="event loop (default auto: uvloop when installed, as `pgq run`)")
    a = p.parse_args()
    fn = {"enqueue": enqueue, "worker": worker, "pickup": pickup, "pickup-stats": pickup_stats,
          "drain-stats": drain_stats}[a.cmd]
    return event_loop_runner(a.loop)(fn(a))


def event_loop_runner(loop: str):
    """uvloop when installed (a dependency of pgqueuer 1.6.0 off Windows), as `pgq run` does
    (pgqueuer.adapters.cli.cli.asyncio_run); plain asyncio with --loop asyncio."""
    if loop in ("auto", "uvloop"):
        try:
            import uvloop

            return uvloop.run
        except ImportError:
            if loop == "uvloop":
                raise
    return asyncio.run


if __name__ == "__main__":
    sys.exit(main())
