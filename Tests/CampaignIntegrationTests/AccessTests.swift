import CampaignCoordinator
import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Access rules")
struct AccessPolicyTests {
    static let me: UInt32 = 1000

    @Test("the default: root and campaign-admin administer, the campaign user is an agent, self administers, others read")
    func defaults() {
        let p = AccessPolicy.default
        #expect(p.role(of: .init(uid: 0), ownUID: Self.me) == .admin)
        #expect(p.role(of: .init(uid: 1234, gids: [50], groupNames: ["campaign-admin"]), ownUID: Self.me) == .admin)
        #expect(p.role(of: .init(uid: 999, userName: "campaign"), ownUID: 999) == .agent, "agents share the coordinator's user")
        #expect(p.role(of: .init(uid: Self.me, userName: "bob"), ownUID: Self.me) == .admin)
        #expect(p.role(of: .init(uid: 4321, userName: "eve", gids: [998], groupNames: ["campaign"]), ownUID: Self.me) == .reader)
        #expect(p.role(of: nil, ownUID: Self.me) == .reader, "no credentials: only * matches")
        #expect(p.description == AccessPolicy.defaultText)
    }

    @Test("first match wins; none denies; every subject form")
    func rules() throws {
        let p = try AccessPolicy.parse("uid:1001=none, gid:77=admin, user:ops=agent, group:watchers=reader, self=agent")
        #expect(p.role(of: .init(uid: 1001, gids: [77]), ownUID: Self.me) == nil)
        #expect(p.role(of: .init(uid: 5, gids: [77]), ownUID: Self.me) == .admin)
        #expect(p.role(of: .init(uid: 6, userName: "ops"), ownUID: Self.me) == .agent)
        #expect(p.role(of: .init(uid: 7, groupNames: ["watchers"]), ownUID: Self.me) == .reader)
        #expect(p.role(of: .init(uid: Self.me), ownUID: Self.me) == .agent)
        #expect(p.role(of: .init(uid: 8), ownUID: Self.me) == nil, "no rule matches: nothing allowed")
        #expect(try AccessPolicy.parse(p.description) == p)
    }

    @Test("mistakes are named", arguments: ["root=god", "uid:x=admin", "host:a=admin", "user:=admin", "root", "root=admin,root=reader"])
    func errors(_ text: String) {
        #expect(throws: ConfigurationError.self) { try AccessPolicy.parse(text) }
    }

    @Test("roles of the methods: reads for readers, the job lifecycle for agents, the rest for admins")
    func methodRoles() {
        let reads: Set = [
            "rpc.discover", "health", "metrics", "agents.list", "calls.list", "jobs.list", "jobs.get", "jobs.tally", "customers.get",
            "customers.list", "customers.explain", "automation.get", "campaigns.get", "campaigns.list", "events.subscribe", "events.unsubscribe",
            "events.list", "suppressions.list", "audit.summary",
        ]
        let agent: Set = [
            "agent.hello", "jobs.lease", "jobs.dialing", "jobs.complete", "jobs.fail", "jobs.skip", "jobs.report", "jobs.reconcile",
        ]
        for (name, role) in ProtocolMethods.roles {
            let expected: AccessRole = reads.contains(name) ? .reader : agent.contains(name) ? .agent : .admin
            #expect(role == expected, "\(name)")
        }
        #expect(AccessRole.reader < .agent && AccessRole.agent < .admin)
    }
}

/// The rules applied to real connections (the test process is the peer: its uid decides).
@Suite("Access over the socket")
struct AccessSocketTests {
    static func call<M: RPCMethod>(_ c: RPCClient, _ m: M.Type, _ p: M.Params) async -> String {
        do {
            _ = try await c.call(m, p)
            return "ok"
        } catch let e as RPCError {
            return e.symbol ?? "?"
        } catch {
            return "\(error)"
        }
    }

    @Test func aReaderReadsButCannotChangeAnythingOrActAsAnAgent() async throws {
        let me = getuid()
        try await CoordinatorHarness.run("reader", access: try AccessPolicy.parse("uid:\(me)=reader")) { h in
            try await TestFactory.jobs(h.store, count: 1)
            try await h.client { c in
                #expect(await Self.call(c, Health.self, NoParams()) == "ok")
                #expect(await Self.call(c, ListJobs.self, .init()) == "ok")
                #expect(await Self.call(c, ListAgents.self, NoParams()) == "ok")
                #expect(await Self.call(c, AgentHello.self, .init(agentId: "a", capacity: 1, version: "t")) == "FORBIDDEN")
                #expect(await Self.call(c, LeaseJobs.self, .init(max: 1)) == "FORBIDDEN")
                #expect(await Self.call(c, CancelJobs.self, .init(ids: [1])) == "FORBIDDEN")
                #expect(await Self.call(c, SetAutomation.self, .init(["dailyCap": .int(5)])) == "FORBIDDEN")
                #expect(await Self.call(c, RetryJobs.self, .init(ids: [])) == "FORBIDDEN")
                do {
                    _ = try await c.call(EnqueueJobs.self, .init(jobs: [.init(customerRef: "x")]))
                    Issue.record("enqueue must be refused")
                } catch let e as RPCError {
                    #expect(e.symbol == "FORBIDDEN" && !e.retryable)
                    #expect(e.message.contains("needs the admin role") && e.message.contains("has reader"), "\(e.message)")
                    #expect(e.data?["required"] == .string("admin"))
                }
            }
            // Refused before the params are even decoded: a forbidden caller learns nothing of them.
            let answer = try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                try await send(#"{"jsonrpc":"2.0","id":9,"method":"jobs.retry","params":{"ids":"not a list"}}"# + "\n")
                return try await receive()
            }
            #expect(answer?.contains("FORBIDDEN") == true, "\(answer ?? "nothing")")
            // Nothing changed.
            #expect(try h.db.scalar("SELECT status FROM campaign.campaign_jobs") == "QUEUED")
        }
    }

    @Test func anAgentRunsTheLifecycleButCannotAdminister() async throws {
        let me = getuid()
        try await CoordinatorHarness.run("agentrole", access: try AccessPolicy.parse("uid:\(me)=agent")) { h in
            try await TestFactory.jobs(h.store, count: 1)
            try await h.client { c in
                #expect(await Self.call(c, AgentHello.self, .init(agentId: "a", capacity: 1, version: "t")) == "ok")
                let jobs = try await c.call(LeaseJobs.self, .init(max: 1)).jobs
                #expect(jobs.count == 1)
                #expect(await Self.call(c, CancelJobs.self, .init(ids: [jobs[0].jobId])) == "FORBIDDEN")
                #expect(await Self.call(c, RunAutomation.self, .init(dryRun: true)) == "FORBIDDEN")
                #expect(await Self.call(c, SkipJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, reason: "r")) == "ok")
                // agents.list shows this connection with its peer credentials and role.
                let agents = try await c.call(ListAgents.self, NoParams())
                #expect(agents.coordinator == "test")
                let a = try #require(agents.agents.first)
                #expect(a.agentId == "a" && a.role == .agent && a.uid == me && a.pid == getpid())
                #expect(a.reports == 1 && a.leasesHeld == 0 && a.capacity == 1)
            }
        }
    }

    @Test func noneMeansNothingAtAll() async throws {
        try await CoordinatorHarness.run("none", access: try AccessPolicy.parse("*=none")) { h in
            try await h.client { c in
                #expect(await Self.call(c, Health.self, NoParams()) == "FORBIDDEN")
                #expect(await Self.call(c, RPCDiscover.self, NoParams()) == "FORBIDDEN")
            }
        }
    }

    @Test func agentsListCountsLeasesHeld() async throws {
        try await CoordinatorHarness.run("agentslist") { h in
            try await TestFactory.jobs(h.store, count: 3)
            try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "worker-1", capacity: 5, version: "9.9"))
                _ = try await agent.call(LeaseJobs.self, .init(max: 2))
                try await h.client { admin in
                    let list = try await admin.call(ListAgents.self, NoParams())
                    #expect(list.agents.map(\.agentId) == ["worker-1"], "the admin's own connection is no agent")
                    #expect(list.agents.first?.leasesHeld == 2)
                    #expect(list.agents.first?.version == "9.9")
                    #expect(list.agents.first?.role == .admin, "root or the coordinator's own user administers by default")
                }
            }
        }
    }
}
