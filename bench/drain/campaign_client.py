#!/usr/bin/env python3
"""The drain benchmark's client of the coordinator (python3 stdlib only; used by scripts/bench-drain).

Subcommands (each prints one JSON object on stdout):

  enqueue  --socket S --count N --chunk C --ref-format F --first K --job-prefix P
           `jobs.enqueue` of N jobs in calls of C items on ONE connection, one request line out and
           its answer line back before the next; customer i (K <= i < K+N) is F % i. Wall clock on
           the client from before encoding the first request to after decoding the last answer.
           Fails (exit 1) unless every item was enqueued (no rejection, no existing job).

  pickup   --socket S --count N --rate R --ref-format F --first K --job-prefix P --psql PSQL --url URL
           N single-job `jobs.enqueue` calls at R per second (on an absolute schedule), the client's
           clock read just before each request is written. Then waits until every one of those jobs
           has a call log and reads, from the database, the lease (`campaign_jobs.started_at`), the
           call's start (`call_logs.started_at`, as the agent reported it) and the completion
           (`campaign_jobs.completed_at`). Latencies in ms: p50 / p99 / max of each.

  wait     --psql PSQL --url URL --sql SQL [--stall S] [--timeout T] [--interval I]
           Polls `SQL` (one integer) on ONE psql session until it is 0. Fails (exit 3) when the
           value has not changed for S seconds, or after T seconds in all.

The coordinator speaks line-delimited JSON-RPC 2.0 (protocol/openrpc.json); this client writes
one request per line and reads answers until the one with its id.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import time


class RpcFailure(Exception):
    pass


class LineClient:
    """One connection, one request at a time."""

    def __init__(self, path: str, timeout: float = 120.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = bytearray()
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, params) -> int:
        self.next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params},
                          separators=(",", ":")).encode() + b"\n"
        self.sock.sendall(line)
        return self.next_id

    def receive(self, want_id: int):
        while True:
            nl = self.buf.find(b"\n")
            while nl < 0:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise RpcFailure("the coordinator closed the connection")
                self.buf += chunk
                nl = self.buf.find(b"\n")
            line = bytes(self.buf[:nl])
            del self.buf[:nl + 1]
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("id") == want_id:
                if "error" in msg:
                    raise RpcFailure(f"error answer: {json.dumps(msg['error'])}")
                return msg["result"]
            if isinstance(msg, dict) and msg.get("id") is None and "error" in msg:
                raise RpcFailure(f"unroutable error answer: {json.dumps(msg['error'])}")
            # An answer for another id or a notification: not ours, ignored.

    def call(self, method: str, params):
        return self.receive(self.send(method, params))


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p of the values at or below it."""
    if not sorted_values:
        return float("nan")
    k = max(1, math.ceil(p * len(sorted_values)))
    return sorted_values[k - 1]


def summary(values: list[float]) -> dict:
    v = sorted(values)
    return {"n": len(v), "p50": percentile(v, 0.50), "p99": percentile(v, 0.99), "max": v[-1] if v else float("nan"),
            "min": v[0] if v else float("nan"), "mean": sum(v) / len(v) if v else float("nan")}


class Psql:
    """One long-lived psql session: a query per call, its rows back (tab-separated)."""

    MARK = "__campaign_bench_end__"

    def __init__(self, psql: str, url: str):
        self.proc = subprocess.Popen(
            [psql, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def query(self, sql: str) -> list[list[str]]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.MARK + "\n")
        self.proc.stdin.flush()
        rows = []
        while True:
            line = self.proc.stdout.readline()
            if line == "":
                raise RpcFailure(f"psql exited (status {self.proc.wait()}) on: {sql[:200]}")
            line = line.rstrip("\n")
            if line == self.MARK:
                return rows
            rows.append(line.split("\t"))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def cmd_enqueue(a) -> int:
    items = [{"customerRef": a.ref_format % i, "queueJobId": f"{a.job_prefix}{i}", "reason": "bench"}
             for i in range(a.first, a.first + a.count)]
    chunks = [items[i:i + a.chunk] for i in range(0, len(items), a.chunk)]
    c = LineClient(a.socket)
    enqueued = existing = rejected = 0
    per_call = []
    try:
        t0 = time.time()
        for ch in chunks:
            s = time.time()
            r = c.call("jobs.enqueue", {"jobs": ch})
            per_call.append((time.time() - s) * 1000)
            enqueued += r.get("enqueued", 0)
            existing += r.get("existing", 0)
            rejected += len(r.get("rejected") or [])
        t1 = time.time()
    finally:
        c.close()
    secs = t1 - t0
    out = {"jobs": a.count, "calls": len(chunks), "chunk": a.chunk, "seconds": secs,
           "rate": a.count / secs if secs > 0 else 0, "enqueued": enqueued, "existing": existing,
           "rejected": rejected, "call_ms": summary(per_call)}
    print(json.dumps(out))
    if enqueued != a.count or rejected or existing:
        print(f"error: enqueue: {enqueued} enqueued, {existing} existing, {rejected} rejected of {a.count}",
              file=sys.stderr)
        return 1
    return 0


def cmd_pickup(a) -> int:
    c = LineClient(a.socket)
    sends: dict[str, float] = {}
    rtts = []
    late = 0
    try:
        interval = 1.0 / a.rate
        start = time.time() + 0.05
        for k in range(a.count):
            i = a.first + k
            due = start + k * interval
            now = time.time()
            if due > now:
                time.sleep(due - now)
            elif now - due > interval:
                late += 1
            qid = f"{a.job_prefix}{i}"
            params = {"jobs": [{"customerRef": a.ref_format % i, "queueJobId": qid, "reason": "pickup"}]}
            t = time.time()
            r = c.call("jobs.enqueue", params)
            rtts.append((time.time() - t) * 1000)
            if r.get("enqueued") != 1:
                print(f"error: pickup enqueue of {qid}: {json.dumps(r)}", file=sys.stderr)
                return 1
            sends[qid] = t
        send_secs = time.time() - start
    finally:
        c.close()

    db = Psql(a.psql, a.url)
    try:
        ids = ",".join("'" + q + "'" for q in sends)
        deadline = time.time() + a.timeout
        while True:
            rows = db.query(f"""SELECT count(*) FILTER (WHERE cl.id IS NOT NULL AND j.status = 'COMPLETED'),
                                       count(*) FILTER (WHERE j.status IN ('FAILED', 'SKIPPED'))
                                FROM campaign.campaign_jobs j LEFT JOIN campaign.call_logs cl ON cl.job_id = j.id
                                WHERE j.queue_job_id = ANY(ARRAY[{ids}])""")
            done, bad = int(rows[0][0]), int(rows[0][1])
            if done == len(sends) or bad:
                break
            if time.time() > deadline:
                print(f"error: pickup: only {done} of {len(sends)} jobs completed with a call log "
                      f"after {a.timeout} s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        if bad:
            print(f"error: pickup: {bad} job(s) FAILED or SKIPPED", file=sys.stderr)
            for r in db.query(f"""SELECT queue_job_id, status, attempts_made, result::text FROM campaign.campaign_jobs
                                  WHERE queue_job_id = ANY(ARRAY[{ids}]) AND status IN ('FAILED', 'SKIPPED') LIMIT 5"""):
                print("  " + " | ".join(r), file=sys.stderr)
            return 1
        rows = db.query(f"""SELECT j.queue_job_id, extract(epoch FROM j.started_at), extract(epoch FROM cl.started_at),
                                   extract(epoch FROM j.completed_at), j.attempts_made
                            FROM campaign.campaign_jobs j JOIN campaign.call_logs cl ON cl.job_id = j.id
                            WHERE j.queue_job_id = ANY(ARRAY[{ids}])""")
    finally:
        db.close()
    lease, call, done = [], [], []
    retried = 0
    for qid, started, call_started, completed, attempts in rows:
        t = sends[qid]
        lease.append((float(started) - t) * 1000)
        call.append((float(call_started) - t) * 1000)
        done.append((float(completed) - t) * 1000)
        retried += int(attempts) != 1
    out = {"jobs": len(rows), "rate": a.rate, "send_seconds": send_secs, "late_sends": late, "retried": retried,
           "lease_ms": summary(lease), "call_ms": summary(call), "completed_ms": summary(done),
           "enqueue_rtt_ms": summary(rtts)}
    print(json.dumps(out))
    return 0


def cmd_wait(a) -> int:
    db = Psql(a.psql, a.url)
    try:
        t0 = time.time()
        last, last_change = None, t0
        counted_at = None
        while True:
            now = time.time()
            if a.probe_sql and counted_at is not None and now - counted_at < a.count_every:
                # Between counts only "is anything left?": a count over a busy table every 0.25 s
                # costs the database more than the side being measured should pay.
                if int(db.query(a.probe_sql)[0][0]) != 0:
                    time.sleep(a.interval)
                    continue
            v = int(db.query(a.sql)[0][0])
            counted_at = now = time.time()
            if v == 0:
                print(json.dumps({"seconds": now - t0}))
                return 0
            if v != last:
                last, last_change = v, now
            elif now - last_change > a.stall:
                print(f"error: no progress for {a.stall} s: {v} still open ({a.sql})", file=sys.stderr)
                return 3
            if now - t0 > a.timeout:
                print(f"error: not done after {a.timeout} s: {v} still open ({a.sql})", file=sys.stderr)
                return 3
            time.sleep(a.interval)
    finally:
        db.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("enqueue")
    e.add_argument("--socket", required=True)
    e.add_argument("--count", type=int, required=True)
    e.add_argument("--chunk", type=int, default=5000)
    e.add_argument("--ref-format", required=True, help="printf format of a customer ref, e.g. cust-%%07d")
    e.add_argument("--first", type=int, default=1)
    e.add_argument("--job-prefix", required=True)
    k = sub.add_parser("pickup")
    k.add_argument("--socket", required=True)
    k.add_argument("--count", type=int, default=1000)
    k.add_argument("--rate", type=float, default=100)
    k.add_argument("--ref-format", required=True)
    k.add_argument("--first", type=int, default=1)
    k.add_argument("--job-prefix", required=True)
    k.add_argument("--psql", required=True)
    k.add_argument("--url", required=True)
    k.add_argument("--timeout", type=float, default=120)
    w = sub.add_parser("wait")
    w.add_argument("--psql", required=True)
    w.add_argument("--url", required=True)
    w.add_argument("--sql", required=True)
    w.add_argument("--stall", type=float, default=60)
    w.add_argument("--timeout", type=float, default=3600)
    w.add_argument("--interval", type=float, default=0.25)
    w.add_argument("--probe-sql", default=None,
                   help="a cheap query answering 0 once nothing is left; then --sql runs only every --count-every s")
    w.add_argument("--count-every", type=float, default=5)
    a = p.parse_args()
    try:
        return {"enqueue": cmd_enqueue, "pickup": cmd_pickup, "wait": cmd_wait}[a.cmd](a)
    except (RpcFailure, OSError) as ex:
        print(f"error: {a.cmd}: {ex}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
