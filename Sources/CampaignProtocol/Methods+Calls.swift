import CampaignCore
import Foundation

// Call logs on their own: calls.list.

/// `calls.list`: call logs (one per placed call), newest first by the call's time, filtered,
/// with cursor paging. The call's time is its `startedAt`, or when it was logged (`createdAt`)
/// for a call reported without one; `since`/`until` and the order use it.
public enum ListCalls: RPCMethod {
    public static let name = "calls.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        /// Calls at or after / before these instants (RFC 3339).
        public var since: String?
        public var until: String?
        /// Calls of this campaign's jobs only (absent: every campaign).
        public var campaign: String?
        public var outcome: CallOutcome?
        /// Calls reported by this agent.
        public var agent: String?
        public var customerRef: String?
        public var jobId: Int64?
        /// 1…1000, default 100.
        public var limit: Int?
        /// `nextCursor` of the previous page.
        public var cursor: String?
        public init(
            since: String? = nil, until: String? = nil, campaign: String? = nil, outcome: CallOutcome? = nil,
            agent: String? = nil, customerRef: String? = nil, jobId: Int64? = nil, limit: Int? = nil, cursor: String? = nil
        ) {
            self.since = since
            self.until = until
            self.campaign = campaign
            self.outcome = outcome
            self.agent = agent
            self.customerRef = customerRef
            self.jobId = jobId
            self.limit = limit
            self.cursor = cursor
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var calls: [CallLogView]
        /// Give it as `cursor` for the next page; absent on the last.
        public var nextCursor: String?
        public init(calls: [CallLogView], nextCursor: String?) {
            self.calls = calls
            self.nextCursor = nextCursor
        }
    }

    /// A page's position: the call time (microseconds since the epoch) and id of its last call.
    public struct Cursor: Sendable, Equatable, CustomStringConvertible {
        public var microseconds: Int64
        public var id: Int64
        public init(microseconds: Int64, id: Int64) {
            self.microseconds = microseconds
            self.id = id
        }

        public init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let us = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
            self.init(microseconds: us, id: id)
        }

        public var description: String { "\(self.microseconds):\(self.id)" }
    }
}

extension ListCalls.Params: ValidatedParams {
    public func validate() throws {
        if let c = self.cursor, ListCalls.Cursor(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
        for (name, value) in [("since", self.since), ("until", self.until)] {
            if let value, Timestamp.parse(value) == nil {
                throw RPCError(.validationFailed, "\(name) must be an RFC 3339 timestamp with a timezone")
            }
        }
        if let a = self.agent, !ParamLimits.agentIdLength.contains(a.count) {
            throw RPCError(.validationFailed, "agent must be \(ParamLimits.agentIdLength.wording) characters")
        }
    }
}
