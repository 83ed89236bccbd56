"""A client for the campaign coordinator's JSON-RPC 2.0 socket (python3 stdlib only).

The coordinator speaks line-delimited JSON-RPC 2.0 on a Unix stream socket: one JSON value per
line, UTF-8, `\\n`-terminated; answers may come out of order and are matched by id
(protocol/README.md). This module is what `scripts/campaign-rpc` and the admin scripts use:

    import campaign_rpc
    with campaign_rpc.Client() as rpc:               # socket: $CAMPAIGN_SOCKET or the default
        print(rpc.call("health")["queue"])
        for job in rpc.paginate("jobs.list", {"status": "FAILED"}, "jobs"):
            ...
        answers = rpc.call_many([("jobs.get", {"id": 1}), ("jobs.get", {"id": 2})])
        for event in rpc.events(after=last_seen):    # events.subscribe: every job transition,
            last_seen = event["eventId"]              # resumed after a reconnect, forever

Errors: `RpcError` (the coordinator answered with a JSON-RPC error: `code`, `message`, `data`,
`symbol` from `data.code`, `retryable` from `data.retryable`), `RpcConnectionError` (cannot
connect, connection closed before the answer, an answer that is not JSON-RPC) and its subclass
`RpcTimeout` and `RpcConnectionClosed`. All derive from `CampaignRpcException`.

A connection closed by the coordinator (a restart, say) is reopened by the next call. A
read-only method whose connection closed before its answer is sent once more on a new
connection; any other method raises `RpcConnectionError`, since it may or may not have been
applied.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any, Iterable, Iterator

__all__ = [
    "DEFAULT_SOCKET",
    "READ_ONLY_METHODS",
    "CampaignRpcException",
    "RpcError",
    "RpcConnectionError",
    "RpcConnectionClosed",
    "RpcTimeout",
    "Client",
    "default_socket",
]

DEFAULT_SOCKET = "/run/campaign/coordinator.sock"

#: Methods that change nothing: safe to send again when the connection closed before the answer.
READ_ONLY_METHODS = frozenset(
    {
        "health",
        "metrics",
        "agents.list",
        "rpc.discover",
        "jobs.list",
        "jobs.get",
        "jobs.tally",
        "calls.list",
        "events.list",
        "customers.get",
        "customers.list",
        "automation.get",
        "campaigns.get",
        "campaigns.list",
    }
)

#: The coordinator refuses longer lines (LIMIT_EXCEEDED); checked before sending.
MAX_LINE_BYTES = 1 << 20
#: The coordinator refuses more than 128 requests in flight per connection.
MAX_IN_FLIGHT = 128


def default_socket() -> str:
    """`$CAMPAIGN_SOCKET`, else `/run/campaign/coordinator.sock`."""
    return os.environ.get("CAMPAIGN_SOCKET") or DEFAULT_SOCKET


class CampaignRpcException(Exception):
    """Base of every error this module raises."""


class RpcError(CampaignRpcException):
    """A JSON-RPC error object the coordinator answered with."""

    def __init__(self, code: int, message: str, data: Any = None, method: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.method = method

    @classmethod
    def from_object(cls, obj: Any, method: str | None = None) -> "RpcError":
        if not isinstance(obj, dict):
            return cls(-32603, f"malformed error object: {obj!r}", None, method)
        code = obj.get("code")
        return cls(
            code if isinstance(code, int) else -32603,
            str(obj.get("message", "")),
            obj.get("data"),
            method,
        )

    @property
    def symbol(self) -> str | None:
        """The stable symbolic name in `data.code` (e.g. `NOT_FOUND`), if any."""
        if isinstance(self.data, dict) and isinstance(self.data.get("code"), str):
            return self.data["code"]
        return None

    @property
    def retryable(self) -> bool:
        """`data.retryable`: whether trying again later can help."""
        return isinstance(self.data, dict) and self.data.get("retryable") is True

    def __str__(self) -> str:
        return f"{self.code} {self.symbol or '-'}: {self.message}"

    def __repr__(self) -> str:
        return f"RpcError(code={self.code!r}, message={self.message!r}, data={self.data!r})"


class RpcConnectionError(CampaignRpcException):
    """The conversation failed: cannot connect, closed before the answer, or a bad answer."""


class RpcConnectionClosed(RpcConnectionError):
    """The connection closed (or broke) before the answer came."""


class RpcTimeout(RpcConnectionError):
    """No answer within the call's timeout."""


class Client:
    """One connection to the coordinator, opened on first use.

    Not thread-safe: use one client per thread. Concurrency on one connection comes from
    `call_many`, which pipelines requests and matches the answers by id.
    """

    def __init__(self, socket_path: str | None = None, timeout: float | None = 30.0):
        """`timeout`: default seconds per call (None: wait forever); also bounds the connect."""
        self.socket_path = socket_path or default_socket()
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._next_id = 0
        # Answers read while waiting for another id (kept until asked for).
        self._stash: dict[Any, dict] = {}
        # Notifications from the coordinator (events.job), in arrival order.
        self._notifications: list[dict] = []

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> None:
        """Opens the connection (calls do it themselves when needed)."""
        if self._sock is not None:
            return
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.socket_path)
        except socket.timeout:
            s.close()
            raise RpcTimeout(f"cannot connect to {self.socket_path}: timed out") from None
        except OSError as e:
            s.close()
            raise RpcConnectionError(f"cannot connect to {self.socket_path}: {e.strerror or e}") from None
        self._sock = s
        self._buf.clear()
        self._stash.clear()
        self._notifications.clear()

    def close(self) -> None:
        """Closes the connection; the next call opens a new one."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf.clear()
                self._stash.clear()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------

    def call(self, method: str, params: Any = None, *, timeout: float | None = ..., resend: bool | None = None) -> Any:
        """Calls `method` and returns its `result`; raises `RpcError` for an error answer.

        `params`: a dict, a list, or None (sent without params). `timeout`: seconds for this
        call (default: the client's). `resend`: send once more on a new connection when the
        connection closes before the answer (default: only for `READ_ONLY_METHODS`).
        """
        if resend is None:
            resend = method in READ_ONLY_METHODS
        try:
            return self._call_once(method, params, timeout)
        except RpcConnectionClosed:
            if not resend:
                raise
            time.sleep(0.2)  # let a restarting coordinator take the socket back
            return self._call_once(method, params, timeout)

    def notify(self, method: str, params: Any = None) -> None:
        """Sends a notification (no id: the coordinator runs it and never answers)."""
        self.connect()
        self._send([self._request(method, params, None)])

    def call_many(
        self, calls: Iterable[tuple[str, Any]], *, window: int = 32, timeout: float | None = ...
    ) -> list[Any]:
        """Pipelines many calls on this connection, at most `window` in flight.

        Returns one entry per call, in order: the result, or the `RpcError` it was answered
        with (returned, not raised, so one refusal does not hide the other answers).
        Connection problems raise. `timeout` bounds the wait for each next answer.
        """
        window = max(1, min(window, MAX_IN_FLIGHT))
        pending = list(calls)
        results: list[Any] = [None] * len(pending)
        self.connect()
        in_flight: dict[int, int] = {}  # request id -> index
        next_index = 0
        try:
            while next_index < len(pending) or in_flight:
                lines = []
                while next_index < len(pending) and len(in_flight) + len(lines) < window:
                    method, params = pending[next_index]
                    rid = self._new_id()
                    lines.append(self._request(method, params, rid))
                    in_flight[rid] = next_index
                    next_index += 1
                if lines:
                    self._send(lines)
                rid, answer = self._next_answer(set(in_flight), timeout, what="call_many")
                index = in_flight.pop(rid)
                results[index] = self._unwrap(answer, pending[index][0], raise_errors=False)
        except RpcConnectionError:
            self.close()
            raise
        return results

    def paginate(self, method: str, params: dict | None, key: str, *, limit: int = 1000) -> Iterator[Any]:
        """Yields every item of a cursor-paged list method (`jobs.list`, `customers.list`):
        follows `nextCursor` until it is null. `key` names the list in the result."""
        p = dict(params or {})
        p.setdefault("limit", limit)
        seen_cursors = set()
        while True:
            result = self.call(method, p)
            items = result.get(key) if isinstance(result, dict) else None
            if not isinstance(items, list):
                raise RpcConnectionError(f"{method} answered without a {key!r} list")
            yield from items
            cursor = result.get("nextCursor")
            if cursor is None or not items:
                return
            if cursor in seen_cursors:  # a server bug must not loop forever
                raise RpcConnectionError(f"{method} returned the cursor {cursor!r} twice")
            seen_cursors.add(cursor)
            p["cursor"] = cursor

    # -- internals --------------------------------------------------------------------------

    def events(
        self, *, campaign: str | None = None, after: int | None = None, reconnect: bool = True
    ) -> Iterator[dict]:
        """Subscribes (events.subscribe) and yields each job event (the params of `events.job`),
        in eventId order, forever. `after`: the last eventId already handled (None: from now
        on, 0: every event kept). When the connection closes (a coordinator restart) it
        reconnects and subscribes again after the last event yielded, so none is missed and none
        yielded twice; `reconnect=False` raises `RpcConnectionClosed` instead. Errors of the
        subscription itself (NOT_FOUND: retention deleted events after `after`) raise RpcError.
        """
        pause = 0.2
        while True:
            try:
                answer = self.call("events.subscribe", {"campaign": campaign, "after": after}, resend=False)
                if after is None:
                    after = answer["after"]
                pause = 0.2
                while True:
                    while self._notifications:
                        n = self._notifications.pop(0)
                        event = n.get("params") or {}
                        if n.get("method") != "events.job" or event.get("eventId", 0) <= after:
                            continue
                        event.pop("subscription", None)
                        after = event["eventId"]
                        yield event
                    for message in self._read_messages(None, "events.subscribe"):
                        for m in message if isinstance(message, list) else [message]:
                            if isinstance(m, dict) and "id" not in m and isinstance(m.get("method"), str):
                                self._notifications.append(m)
                            elif isinstance(m, dict):
                                self._stash[m.get("id")] = m
            except RpcConnectionError:
                self.close()
                if not reconnect:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @staticmethod
    def _request(method: str, params: Any, rid: Any) -> bytes:
        if not isinstance(method, str) or not method:
            raise ValueError("method must be a non-empty string")
        req: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if rid is not None:
            req["id"] = rid
        if params is not None:
            if not isinstance(params, (dict, list)):
                raise ValueError("params must be an object (dict) or an array (list)")
            req["params"] = params
        line = json.dumps(req, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(line) + 1 > MAX_LINE_BYTES:
            raise ValueError(f"request of {len(line)} bytes exceeds the coordinator's line limit of {MAX_LINE_BYTES}")
        return line + b"\n"

    def _call_once(self, method: str, params: Any, timeout: Any) -> Any:
        self._request(method, params, None)  # invalid params raise before connecting
        self.connect()
        rid = self._new_id()
        line = self._request(method, params, rid)
        try:
            self._send([line])
            _, answer = self._next_answer({rid}, timeout, what=method)
        except RpcTimeout:
            # A late answer would be stashed and ignored; the connection stays usable.
            raise
        except RpcConnectionError:
            self.close()
            raise
        return self._unwrap(answer, method, raise_errors=True)

    def _send(self, lines: list[bytes]) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(b"".join(lines))
        except OSError as e:
            raise RpcConnectionClosed(f"connection to {self.socket_path} lost while sending: {e.strerror or e}") from None

    def _next_answer(self, wanted: set, timeout: Any, what: str) -> tuple[Any, dict]:
        """Reads until an answer to one of the `wanted` ids arrives; returns (id, answer).
        Answers to other ids read meanwhile are kept for later."""
        t = self.timeout if timeout is ... else timeout
        deadline = None if t is None else time.monotonic() + t
        while True:
            for rid in wanted:
                if rid in self._stash:
                    return rid, self._stash.pop(rid)
            for message in self._read_messages(deadline, what):
                answers = message if isinstance(message, list) else [message]
                for answer in answers:
                    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
                        raise RpcConnectionError(f"not a JSON-RPC 2.0 answer: {str(answer)[:200]}")
                    if "id" not in answer and isinstance(answer.get("method"), str):
                        self._notifications.append(answer)  # the coordinator's own (events.job)
                        continue
                    rid = answer.get("id")
                    if rid is None and "error" in answer:
                        # An error the coordinator could not tie to a request (e.g. a refused
                        # line): with one request waiting it is that request's answer.
                        if len(wanted) == 1:
                            rid = next(iter(wanted))
                        else:
                            raise RpcError.from_object(answer["error"], what)
                    if len(self._stash) > 10_000:  # late answers nobody waits for any more
                        self._stash.clear()
                    self._stash[rid] = answer

    def _read_messages(self, deadline: float | None, what: str) -> list[Any]:
        """Blocks until at least one complete line is buffered; returns the parsed lines."""
        assert self._sock is not None
        while True:
            out = []
            while True:
                nl = self._buf.find(b"\n")
                if nl < 0:
                    break
                raw = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                if not raw.strip():
                    continue
                try:
                    out.append(json.loads(raw.decode("utf-8")))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise RpcConnectionError(f"the coordinator sent a line that is not JSON: {e}") from None
            if out:
                return out
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RpcTimeout(f"no answer to {what} within the timeout")
                self._sock.settimeout(remaining)
            else:
                self._sock.settimeout(None)
            try:
                chunk = self._sock.recv(1 << 16)
            except socket.timeout:
                raise RpcTimeout(f"no answer to {what} within the timeout") from None
            except OSError as e:
                raise RpcConnectionClosed(f"connection to {self.socket_path} lost: {e.strerror or e}") from None
            if not chunk:
                raise RpcConnectionClosed(f"the coordinator closed the connection before answering {what}")
            self._buf += chunk

    @staticmethod
    def _unwrap(answer: dict, method: str, raise_errors: bool) -> Any:
        if "error" in answer:
            err = RpcError.from_object(answer["error"], method)
            if raise_errors:
                raise err
            return err
        if "result" not in answer:
            raise RpcConnectionError(f"the answer to {method} has neither result nor error")
        return answer["result"]
