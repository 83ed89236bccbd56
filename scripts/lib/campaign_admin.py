"""Helpers shared by the admin scripts (campaign-daily-report, campaign-retry-failed).

Days and windows are in the campaign's timezone (`automation.get` → `timezone`) unless told
otherwise; every comparison is made on aware UTC datetimes parsed from the wire's RFC 3339.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import campaign_rpc

UTC = dt.timezone.utc

#: What `campaign-retry-failed` retries unless told otherwise: the call was not answered, was
#: busy, or failed technically (and the job ran out of attempts), or no call was placed at all
#: (the lease expired or the agent's connection closed before dialing). Left alone: REJECTED
#: (the customer refused), outcome_unknown (the call may have happened: never redialed without
#: a person deciding so), and failures an agent reported as final without an outcome.
DEFAULT_RETRYABLE = ("NO_ANSWER", "BUSY", "FAILED", "lease_expired", "connection_lost")

#: The exit statuses the scripts share with scripts/campaign-rpc.
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3


class UsageError(Exception):
    pass


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time from the wire (`2026-11-29T03:45:21.274Z`) as an aware UTC datetime."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def format_time(t: dt.datetime) -> str:
    """RFC 3339 UTC with milliseconds, as the wire writes times."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.astimezone(UTC).microsecond // 1000:03d}Z"


def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown timezone {name!r}") from None


def campaign_timezone(client: campaign_rpc.Client, override: str | None = None) -> str:
    """`override`, else the campaign's timezone from `automation.get`."""
    if override:
        return override
    return client.call("automation.get").get("timezone") or "UTC"


class Window:
    """A half-open time window [start, end), with the label it was asked for."""

    def __init__(self, start: dt.datetime, end: dt.datetime, timezone: str, label: str, day: dt.date | None = None):
        if end <= start:
            raise UsageError("the window's end must be after its start")
        self.start, self.end, self.timezone, self.label, self.day = start, end, timezone, label, day

    def contains(self, t: dt.datetime | None) -> bool:
        return t is not None and self.start <= t < self.end

    def as_json(self) -> dict:
        d = {"start": format_time(self.start), "end": format_time(self.end), "timezone": self.timezone}
        if self.day is not None:
            d["day"] = self.day.isoformat()
        return d

    def describe(self) -> str:
        tz = zone(self.timezone)
        fmt = "%Y-%m-%d %H:%M"
        return (f"{self.label}: {self.start.astimezone(tz).strftime(fmt)} – {self.end.astimezone(tz).strftime(fmt)} "
                f"{self.timezone} ({format_time(self.start)} – {format_time(self.end)})")


def day_window(spec: str, timezone: str, now: dt.datetime | None = None) -> Window:
    """`yesterday`, `today` or `YYYY-MM-DD`: that calendar day in `timezone` (DST-correct)."""
    tz = zone(timezone)
    today = (now or dt.datetime.now(UTC)).astimezone(tz).date()
    if spec == "today":
        day = today
    elif spec == "yesterday":
        day = today - dt.timedelta(days=1)
    else:
        try:
            day = dt.date.fromisoformat(spec)
        except ValueError:
            raise UsageError(f"--day wants yesterday, today or YYYY-MM-DD, not {spec!r}") from None
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(UTC)
    return Window(start, end, timezone, f"{day.isoformat()} ({spec})" if spec in ("today", "yesterday") else day.isoformat(), day)


def check_day_spec(spec: str) -> None:
    """Refuses a bad `--day` before anything is asked of the coordinator."""
    day_window(spec, "UTC")


def explicit_window(since: str, until: str | None, timezone: str) -> Window:
    """`--since`/`--until` as ISO 8601; a time without an offset is read in `timezone`."""
    tz = zone(timezone)

    def parse(label: str, text: str) -> dt.datetime:
        try:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{label} wants an ISO 8601 time (e.g. 2026-11-28T18:00 or 2026-11-28T17:00:00Z), not {text!r}") from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=tz)
        return t.astimezone(UTC)

    start = parse("--since", since)
    end = parse("--until", until) if until else dt.datetime.now(UTC)
    return Window(start, end, timezone, "window")


def outcome_key(job: dict) -> str:
    """What a job's result says happened: its call outcome, else its reason (`lease_expired`,
    `outcome_unknown`, `cancelled`, a rule's name…), else "" — the same key `jobs.tally` uses."""
    result = job.get("result")
    if isinstance(result, dict):
        for k in ("outcome", "reason"):
            if isinstance(result.get(k), str) and result[k]:
                return result[k]
    return ""


def all_jobs(
    client: campaign_rpc.Client, status: str | None = None, page_size: int = 1000,
    updated_since: dt.datetime | None = None,
) -> Iterator[dict]:
    """Every job (newest first), optionally of one status and last changed at or after
    `updated_since`, following `nextCursor` to the end.

    Every time a job carries (enqueuedAt, failedAt, completedAt, its call logs' landing) is at or
    before its updatedAt, so `updated_since` = a window's start never drops a job of the window."""
    params: dict = {"status": status} if status else {}
    if updated_since is not None:
        params["updatedSince"] = format_time(updated_since)
    yield from client.paginate("jobs.list", params, "jobs", limit=page_size)


def page_size(text: str) -> int:
    """argparse type of `--page-size`: jobs per jobs.list call, 1…1000."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise UsageError(f"--page-size must be 1…1000, not {text!r}")
    return n


def table(rows: list[list[Any]], right: Iterable[int] = ()) -> str:
    """A plain text table; the first row is the header; columns in `right` are right-aligned."""
    if not rows:
        return ""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(cells[0]))]
    right = set(right)
    lines = []
    for r in cells:
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def run(main) -> None:
    """Runs `main()`, turning errors into the shared exit statuses and one line on stderr."""
    prog = sys.argv[0].rsplit("/", 1)[-1]
    try:
        sys.exit(main() or 0)
    except UsageError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except campaign_rpc.RpcError as e:
        print(f"{prog}: error {e.code} {e.symbol or '-'}: {e.message}" + (f" (in {e.method})" if e.method else ""),
              file=sys.stderr)
        sys.exit(EXIT_RPC_ERROR)
    except campaign_rpc.RpcConnectionError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(EXIT_CONNECTION)
    except BrokenPipeError:  # `| head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
