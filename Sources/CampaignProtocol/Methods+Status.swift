import CampaignCore
import Foundation

// Methods an operator asks of a running coordinator: rpc.discover, health, metrics, agents.list.

/// `rpc.discover`: the OpenRPC document of the protocol (`protocol/openrpc.json`, built in).
public enum RPCDiscover: RPCMethod {
    public static let name = "rpc.discover"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public typealias Result = JSONValue

    /// The document, parsed once. (A document that does not parse fails the unit tests; at run
    /// time it would answer `null` rather than crash the coordinator.)
    public static let document: JSONValue =
        (try? JSONDecoder().decode(JSONValue.self, from: Data(OpenRPCDocument.text.utf8))) ?? .null
}

/// `health`: queue counts, agents, database state, version, uptime.
public enum Health: RPCMethod {
    public static let name = "health"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public struct Result: Codable, Sendable, Equatable {
        public var version: String
        public var uptimeSeconds: Int
        /// `up`, `down` (it refuses connections, or they break) or `unresponsive` (it did not
        /// answer within its deadline, or within a second for `health`).
        public var database: String
        /// Since when the database is not `up` (absent while it is).
        public var databaseSince: String?
        public var leader: Bool
        public var agents: Int
        /// The connections open on this coordinator and its cap.
        public var connections: ConnectionCounts?
        public var queue: QueueCounts
        /// Jobs completed since midnight in the default campaign's timezone.
        public var completedToday: Int
        /// Each campaign not ended, by name.
        public var campaigns: [CampaignHealth]
        /// When the counts were read, when they are not from now: the database did not answer,
        /// so they are the last ones this coordinator saw (zero when it never saw any).
        public var countsAt: String?
        public init(
            version: String, uptimeSeconds: Int, database: String, databaseSince: String? = nil, leader: Bool,
            agents: Int, connections: ConnectionCounts? = nil, queue: QueueCounts, completedToday: Int,
            campaigns: [CampaignHealth] = [], countsAt: String? = nil
        ) {
            self.campaigns = campaigns
            self.version = version
            self.uptimeSeconds = uptimeSeconds
            self.database = database
            self.databaseSince = databaseSince
            self.leader = leader
            self.agents = agents
            self.connections = connections
            self.queue = queue
            self.completedToday = completedToday
            self.countsAt = countsAt
        }
    }
}

/// The connections of a coordinator, in `health`.
public struct ConnectionCounts: Codable, Sendable, Equatable {
    /// Connections open now (agents, operators, scripts, subscribers).
    public var open: Int
    /// The most it keeps open (`--max-connections`); absent: no cap.
    public var limit: Int?
    public init(open: Int, limit: Int?) {
        self.open = open
        self.limit = limit
    }
}

/// `metrics`: every metric of the coordinator that answers, in the Prometheus text format (the
/// same text as `GET /metrics` of its `--metrics-listen`).
public enum MetricsText: RPCMethod {
    public static let name = "metrics"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public struct Result: Codable, Sendable, Equatable {
        /// The format of `exposition`: ``MetricsText/contentType``.
        public var contentType: String
        /// The metrics as Prometheus would scrape them.
        public var exposition: String
        public init(contentType: String, exposition: String) {
            self.contentType = contentType
            self.exposition = exposition
        }
    }
}

/// One campaign in `health`.
public struct CampaignHealth: Codable, Sendable, Equatable {
    public var name: String
    public var status: CampaignStatus
    public var queue: QueueCounts
    /// Calls in progress.
    public var dialing: Int
    /// Call starts since midnight in the campaign's timezone (what its daily cap counts).
    public var callsToday: Int
    public init(name: String, status: CampaignStatus, queue: QueueCounts, dialing: Int, callsToday: Int) {
        self.name = name
        self.status = status
        self.queue = queue
        self.dialing = dialing
        self.callsToday = callsToday
    }
}

/// `agents.list`: the agents connected to this coordinator (each coordinator knows its own).
public enum ListAgents: RPCMethod {
    public static let name = "agents.list"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public struct Result: Codable, Sendable, Equatable {
        /// The coordinator that answered.
        public var coordinator: String
        public var agents: [AgentView]
        public init(coordinator: String, agents: [AgentView]) {
            self.coordinator = coordinator
            self.agents = agents
        }
    }
}
