import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The push event stream with real processes (issue 14): `campaign-ctl events --follow` against
/// two coordinators sharing a database while agents drain thousands of jobs, held to the
/// outbox table row by row; and the webhook forwarder posting to a real HTTP server on loopback
/// (python's http.server, which checks the signature with its own HMAC), killed halfway.
@Suite("Events end to end", .serialized)
struct EventsEndToEndTests {
    /// One event as the stream or the table has it: what must agree.
    struct Row: Equatable, CustomStringConvertible {
        var eventId: Int64
        var job: Int64
        var status: String
        var phase: String?
        var attempts: Int
        var description: String { "#\(self.eventId) job \(self.job) \(self.status)/\(self.phase ?? "-") \(self.attempts)" }
    }

    /// The outbox, numbered, in eventId order (after `after`).
    static func table(_ scene: Scene, after: Int64 = 0) throws -> [Row] {
        try scene.db.connect().query(
            unsafeSQL: "SELECT seq, job_id, status::text AS status, phase::text AS phase, attempts_made FROM campaign.job_events WHERE seq > $1 ORDER BY seq",
            [String(after)]
        ).all.map { r in
            Row(eventId: try r.int64("seq"), job: try r.int64("job_id"), status: try r.string("status"), phase: r["phase"], attempts: try r.int("attempts_made"))
        }
    }

    /// The events a `campaign-ctl events --json` process printed (its log mixes in its notes on stderr).
    static func printed(_ process: ManagedProcess) throws -> [Row] {
        try process.log().split(separator: "\n").filter { $0.hasPrefix("{") }.map { line in
            let e = try JobEvent(json: try JSONValue(jsonUTF8: Array(line.utf8)))
            return Row(eventId: e.eventId, job: e.id, status: e.status.rawValue, phase: e.phase?.rawValue, attempts: e.attemptsMade)
        }
    }

    /// Waits until every event is numbered and `process` printed the last one.
    static func caughtUp(_ scene: Scene, _ process: ManagedProcess, within: Duration = .seconds(60)) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if try scene.db.scalar("SELECT count(*) = 0 FROM campaign.job_events WHERE seq IS NULL") == "t",
                let last = try scene.db.scalar("SELECT max(seq) FROM campaign.job_events").flatMap({ Int64($0) }),
                try Self.printed(process).last?.eventId == last
            {
                return true
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    @Test func theStreamDeliversEveryTransitionAcrossARestartAndAnotherCoordinator() async throws {
        let scene = try await Scene("events")
        var a = try scene.coordinator("a")
        try await scene.waitForSocket("a")
        let set = try await scene.ctl(
            ["automation", "set", "retryBaseMs=50", "retryCapMs=200", "maxAttempts=3"] + AutomationSettings.wideOpenCtlArguments,
            coordinator: "a")
        #expect(set.status == 0, "\(set.stderr)")
        // Started after the settings changed (another coordinator reads them again only every 5 s).
        try scene.coordinator("b")
        try await scene.waitForSocket("b")
        let jobs = 3000
        let files = try scene.writeCustomers(jobs)
        _ = try await scene.ctl(["customers", "import", files.csv], coordinator: "a")

        let follower = try ManagedProcess(
            "campaign-ctl", ["events", "--follow", "--json", "--after", "0", "--socket", scene.socket("a")],
            logDir: scene.dir, name: "follow-a")
        scene.processes.append(follower)
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs], coordinator: "a")
        #expect(enqueued.stdout.contains("enqueued \(jobs)"), "\(enqueued.stdout) \(enqueued.stderr)")
        try scene.agent("x", coordinator: "a", capacity: 20)
        try scene.agent("y", coordinator: "b", capacity: 20)

        // Halfway, the follower's coordinator restarts: the follower reconnects and resumes.
        let halfway = try await scene.eventually(
            "SELECT count(*) >= \(jobs / 3) FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')",
            within: .seconds(120))
        #expect(halfway, "\(scene.logs())")
        #expect(await a.stop() == 0)
        a = try scene.coordinator("a")
        try await scene.waitForSocket("a")

        let drained = try await scene.eventually(
            "SELECT count(*) = \(jobs) FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')",
            within: .seconds(180))
        #expect(drained, "\(scene.logs())")
        #expect(try await Self.caughtUp(scene, follower), "\(follower.log().suffix(2000))")

        let table = try Self.table(scene)
        let delivered = try Self.printed(follower)
        #expect(follower.log().contains("reconnecting"), "the follower saw the restart")
        // Every transition, once, in the table's order: none missing, none twice, none out of order.
        #expect(delivered.count == table.count)
        #expect(delivered == table, "first difference: \(zip(delivered, table).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "lengths")")
        // And the table is the jobs' history: each job's last event is its state, its leases its attempts.
        let jobsNow = try Dictionary(uniqueKeysWithValues: scene.db.connect().query(
            unsafeSQL: "SELECT id, status::text AS status, attempts_made FROM campaign.campaign_jobs").all.map {
                (try $0.int64("id"), (try $0.string("status"), try $0.int("attempts_made")))
            })
        var last: [Int64: Row] = [:]
        var claims: [Int64: Int] = [:]
        var first: [Int64: Row] = [:]
        for e in table {
            last[e.job] = e
            if first[e.job] == nil { first[e.job] = e }
            if e.phase == "CLAIMED" { claims[e.job, default: 0] += 1 }
        }
        #expect(last.count == jobs)
        #expect(first.values.allSatisfy { $0.status == "QUEUED" && $0.attempts == 0 })
        #expect(jobsNow.allSatisfy { id, s in last[id]?.status == s.0 && claims[id] == s.1 })
        #expect(jobsNow.values.contains { $0.1 > 1 }, "some jobs were retried: their whole history is in the stream")

        // The metrics say as much: the newest eventId, and the follower's subscription on a.
        let metrics = try PrometheusText(parsing: try await scene.ctl(["metrics"], coordinator: "a").stdout)
        #expect(metrics.value("campaign_event_head", [:]) == Double(table.last?.eventId ?? -1))
        #expect(metrics.value("campaign_event_subscriptions", [:]) == 1)

        // Another coordinator, from a cursor in the middle: the rest, exactly.
        let middle = table[table.count / 2].eventId
        let other = try ManagedProcess(
            "campaign-ctl", ["events", "--follow", "--json", "--after", String(middle), "--socket", scene.socket("b")],
            logDir: scene.dir, name: "follow-b")
        scene.processes.append(other)
        #expect(try await Self.caughtUp(scene, other), "\(other.log().suffix(2000))")
        #expect(try Self.printed(other) == (try Self.table(scene, after: middle)))
        _ = await other.stop()

        // Without --follow: the same, read page by page (events.list), and the campaign filter.
        let listed = try await scene.ctl(["events", "--json", "--after", String(middle)], coordinator: "b")
        #expect(listed.status == 0, "\(listed.stderr)")
        let listedRows = listed.stdout.split(separator: "\n").compactMap { try? JobEvent(json: JSONValue(jsonUTF8: Array($0.utf8))) }
        #expect(listedRows.map(\.eventId) == (try Self.table(scene, after: middle)).map(\.eventId))
        let none = try await scene.ctl(["events", "--campaign", "no-such"], coordinator: "b")
        #expect(none.status == 1 && none.stderr.contains("NOT_FOUND"), "\(none.stderr)")
        _ = await scene.tearDown()
    }

    /// A webhook receiver: python's http.server, one request at a time. It checks each
    /// signature with python's own hmac, answers 500 to the first try of every 100th event (the
    /// forwarder must retry it), and logs `eventId signature-ok status` per request.
    static let receiver = #"""
        import hashlib, hmac, http.server, json, sys, time
        port, secret, log = int(sys.argv[1]), open(sys.argv[2], "rb").read().rstrip(b"\n"), open(sys.argv[3], "a", buffering=1)
        tried = set()
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = dict(p.split("=", 1) for p in self.headers["Campaign-Signature"].split(","))
                good = hmac.compare_digest(sig["v1"], hmac.new(secret, sig["t"].encode() + b"." + body, hashlib.sha256).hexdigest())
                good = good and abs(time.time() - int(sig["t"])) < 300
                event = json.loads(body)
                good = good and str(event["eventId"]) == self.headers["Campaign-Event-Id"]
                status = 500 if event["eventId"] % 100 == 0 and event["eventId"] not in tried else 200
                tried.add(event["eventId"])
                log.write(f"{event['eventId']} {'ok' if good else 'BAD'} {status}\n")
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", port), Hook).serve_forever()
        """#

    @Test func theWebhookForwarderSignsRetriesAndResumesAfterBeingKilled() async throws {
        let scene = try await Scene("webhook")
        try await scene.startWithJobs(400, settings: ["retryBaseMs=50", "retryCapMs=200"])
        let port = try LoopbackHTTP.freePort()
        let script = scene.dir.appendingPathComponent("receiver.py").path
        let secret = scene.dir.appendingPathComponent("secret").path
        let received = scene.dir.appendingPathComponent("received.log").path
        let state = scene.dir.appendingPathComponent("state").path
        try Self.receiver.write(toFile: script, atomically: true, encoding: .utf8)
        try "s3cr3t-\(UUID().uuidString)\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let server = try ManagedProcess("/usr/bin/python3", [script, String(port), secret, received], logDir: scene.dir, name: "receiver")
        scene.processes.append(server)
        try await Task.sleep(for: .milliseconds(500))

        let arguments = [
            "events", "--follow", "--post", "http://127.0.0.1:\(port)/hook", "--secret-file", secret, "--state-file", state,
            "--socket", scene.socket,
        ]
        var forwarder = try ManagedProcess("campaign-ctl", arguments + ["--after", "0"], logDir: scene.dir, name: "forward-1")
        scene.processes.append(forwarder)
        try scene.agent("w", capacity: 10)

        func lines() -> [(id: Int64, ok: Bool, status: Int)] {
            ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { l in
                let p = l.split(separator: " ")
                guard p.count == 3, let id = Int64(p[0]), let s = Int(p[2]) else { return nil }
                return (id, p[1] == "ok", s)
            }
        }
        // Killed (no chance to save anything more) once it has delivered a few hundred.
        let deadline = ContinuousClock.now + .seconds(60)
        while lines().count < 300 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        forwarder.signal(SIGKILL)
        _ = await forwarder.waitExit(timeout: .seconds(10))
        let beforeKill = lines()
        #expect(beforeKill.count >= 300, "\(forwarder.log().suffix(2000))")
        let saved = Int64((try? String(contentsOfFile: state, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        #expect(saved > 0, "the state file holds the last acknowledged event")
        // Restarted without --after: it resumes from its state file.
        forwarder = try ManagedProcess("campaign-ctl", arguments, logDir: scene.dir, name: "forward-2")
        scene.processes.append(forwarder)

        let drained = try await scene.eventually(
            "SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')", within: .seconds(120))
        #expect(drained, "\(scene.logs())")
        #expect(try await scene.eventually("SELECT count(*) = 0 FROM campaign.job_events WHERE seq IS NULL", within: .seconds(30)))
        let table = try Self.table(scene)
        let end = ContinuousClock.now + .seconds(60)
        while Set(lines().filter { $0.status == 200 }.map(\.id)).count < table.count && ContinuousClock.now < end {
            try await Task.sleep(for: .milliseconds(200))
        }
        let all = lines()
        let acked = all.filter { $0.status == 200 }.map(\.id)
        #expect(!all.contains { !$0.ok }, "every request carried a valid signature")
        // At least once: every event acknowledged; in order; repeated only around the kill.
        #expect(Set(acked) == Set(table.map(\.eventId)), "acknowledged \(Set(acked).count) of \(table.count)")
        #expect(Set(acked).isSubset(of: table.map(\.eventId)), "only events of the table")
        var repeats = 0
        for (p, n) in zip(acked, acked.dropFirst()) {
            if n <= p { repeats += 1 } else { #expect(n == p + 1 || !table.contains { $0.eventId > p && $0.eventId < n }, "a gap after \(p)") }
        }
        #expect(repeats <= 1, "only the event in flight at the kill may come twice")
        #expect(acked.count <= table.count + 1)
        // Refused ones were retried until acknowledged.
        let refused = all.filter { $0.status == 500 }.map(\.id)
        #expect(!refused.isEmpty)
        #expect(Set(refused).isSubset(of: acked), "a refused event was never acknowledged")
        #expect(forwarder.log().contains("not acknowledged (HTTP 500)"), "\(forwarder.log().suffix(1000))")
        _ = await scene.tearDown()
    }
}
