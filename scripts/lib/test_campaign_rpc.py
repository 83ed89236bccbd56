"""Tests of campaign_rpc.Client against a scripted fake coordinator on a Unix socket.

    python3 -m unittest discover -s scripts/lib -p 'test_*.py'

(The tests against the real coordinator are in Tests/CampaignEndToEndTests/ClientScriptsTests.swift.)
"""

import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import campaign_rpc  # noqa: E402


class FakeServer:
    """Accepts connections; `handler(request, reply, conn, state)` decides about each request line."""

    def __init__(self, handler):
        self.handler = handler
        self.dir = tempfile.mkdtemp(prefix="campaign-rpc-test-")
        self.path = os.path.join(self.dir, "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.connections = 0
        self.requests = []
        self.lock = threading.Lock()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        write_lock = threading.Lock()

        def reply(obj, delay=0.0):
            def send():
                if delay:
                    time.sleep(delay)
                with write_lock:
                    try:
                        conn.sendall(json.dumps(obj).encode() + b"\n")
                    except OSError:
                        pass
            threading.Thread(target=send, daemon=True).start()

        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                request = json.loads(line)
                with self.lock:
                    self.requests.append(request)
                self.handler(request, reply, conn, self)

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


def ok(request, result):
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


class ClientTests(unittest.TestCase):
    def serve(self, handler):
        server = FakeServer(handler)
        self.addCleanup(server.close)
        client = campaign_rpc.Client(server.path, timeout=5)
        self.addCleanup(client.close)
        return server, client

    def test_call_many_matches_out_of_order_answers_by_id(self):
        def handler(req, reply, conn, state):
            n = req["params"]["n"]
            reply(ok(req, n * 10), delay=0.05 if n % 2 == 0 else 0.0)  # even ones answer late

        server, client = self.serve(handler)
        results = client.call_many([("x.echo", {"n": n}) for n in range(50)], window=8)
        self.assertEqual(results, [n * 10 for n in range(50)])
        self.assertEqual(server.connections, 1)
        self.assertEqual(len({r["id"] for r in server.requests}), 50)
        self.assertTrue(all(r["jsonrpc"] == "2.0" for r in server.requests))

    def test_error_answer_raises_rpc_error_with_symbol_and_retryable(self):
        def handler(req, reply, conn, state):
            reply({"jsonrpc": "2.0", "id": req["id"], "error": {
                "code": 1005, "message": "database unavailable",
                "data": {"code": "DATABASE_UNAVAILABLE", "retryable": True}}})

        _, client = self.serve(handler)
        with self.assertRaises(campaign_rpc.RpcError) as cm:
            client.call("health")
        e = cm.exception
        self.assertEqual((e.code, e.symbol, e.retryable, e.method), (1005, "DATABASE_UNAVAILABLE", True, "health"))
        self.assertEqual(str(e), "1005 DATABASE_UNAVAILABLE: database unavailable")
        # call_many returns errors in place instead of raising.
        self.assertIsInstance(client.call_many([("health", None)])[0], campaign_rpc.RpcError)

    def test_error_with_null_id_belongs_to_the_only_waiting_call(self):
        def handler(req, reply, conn, state):
            reply({"jsonrpc": "2.0", "id": None, "error": {
                "code": 1008, "message": "too long", "data": {"code": "LIMIT_EXCEEDED", "retryable": True}}})

        _, client = self.serve(handler)
        with self.assertRaises(campaign_rpc.RpcError) as cm:
            client.call("jobs.enqueue", {"jobs": []})
        self.assertEqual(cm.exception.symbol, "LIMIT_EXCEEDED")

    def test_closed_connection_resends_read_only_calls_once_and_fails_the_others(self):
        seen = {"health": 0}

        def handler(req, reply, conn, state):
            if req["method"] == "health":
                seen["health"] += 1
                if seen["health"] == 1:
                    conn.shutdown(socket.SHUT_RDWR)  # the coordinator restarts mid-call
                    return
                reply(ok(req, {"version": "fake"}))
            elif req["method"] == "jobs.retry":
                conn.shutdown(socket.SHUT_RDWR)
            else:
                reply(ok(req, {"fine": True}))

        server, client = self.serve(handler)
        self.assertEqual(client.call("health"), {"version": "fake"})
        self.assertEqual(seen["health"], 2)
        with self.assertRaises(campaign_rpc.RpcConnectionClosed):
            client.call("jobs.retry", {"ids": [1]})
        self.assertEqual(client.call("anything"), {"fine": True})  # reconnects
        self.assertEqual(server.connections, 3)

    def test_timeout_leaves_the_connection_usable(self):
        def handler(req, reply, conn, state):
            reply(ok(req, req["params"]["n"]), delay=0.4 if req["params"]["n"] == 0 else 0.0)

        server, client = self.serve(handler)
        with self.assertRaises(campaign_rpc.RpcTimeout):
            client.call("slow", {"n": 0}, timeout=0.1)
        time.sleep(0.4)  # the late answer arrives and is set aside
        self.assertEqual(client.call("fast", {"n": 1}), 1)
        self.assertEqual(server.connections, 1)

    def test_garbled_answer_is_a_connection_error(self):
        def handler(req, reply, conn, state):
            conn.sendall(b"not json\n")

        _, client = self.serve(handler)
        with self.assertRaises(campaign_rpc.RpcConnectionError) as cm:
            client.call("jobs.cancel", {"ids": [1]})
        self.assertIn("not JSON", str(cm.exception))

    def test_paginate_follows_next_cursor(self):
        data = list(range(1, 8))

        def handler(req, reply, conn, state):
            p = req["params"]
            start = int(p.get("cursor") or 0)
            page = data[start:start + p["limit"]]
            nxt = str(start + len(page)) if start + len(page) < len(data) else None
            reply(ok(req, {"jobs": page, "nextCursor": nxt}))

        server, client = self.serve(handler)
        self.assertEqual(list(client.paginate("jobs.list", {"status": "FAILED"}, "jobs", limit=3)), data)
        self.assertEqual([r["params"].get("cursor") for r in server.requests], [None, "3", "6"])
        self.assertTrue(all(r["params"]["status"] == "FAILED" for r in server.requests))

    def test_cannot_connect(self):
        client = campaign_rpc.Client("/nonexistent/campaign.sock")
        with self.assertRaises(campaign_rpc.RpcConnectionError) as cm:
            client.call("health")
        self.assertIn("cannot connect to /nonexistent/campaign.sock", str(cm.exception))

    def test_bad_params_are_refused_before_sending(self):
        client = campaign_rpc.Client("/nonexistent/campaign.sock")
        with self.assertRaises(ValueError):
            client.call("health", "not an object")


if __name__ == "__main__":
    unittest.main()
