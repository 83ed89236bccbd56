import CampaignCore
import CampaignProtocol

/// The ends of the event stream: the highest eventId given, the oldest kept (nil: none kept).
public struct EventBounds: Sendable, Equatable {
    public var last: Int64
    public var oldest: Int64?
    public init(last: Int64, oldest: Int64?) {
        self.last = last
        self.oldest = oldest
    }

    /// Whether a reader resuming after `after` would miss events retention already deleted.
    public func misses(after: Int64) -> Bool {
        // Kept: oldest…last. Gone: everything up to oldest − 1, or up to last when none is kept.
        let firstKept = self.oldest ?? (self.last + 1)
        return after < firstKept - 1
    }
}

// MARK: Events (the outbox of events.subscribe)

extension PostgresJobStore {
    /// Numbers the committed events that have none yet (up to `limit`), unless another
    /// coordinator is doing it at this moment (then nil). Returns how many it numbered and the
    /// highest eventId now.
    public func numberEvents(limit: Int = 5000) async throws -> (count: Int, last: Int64)? {
        try await self.pool.transaction { conn in
            guard let last = try conn.rows(SQL.EventsStreamLock()).first else { return nil }
            _ = try conn.exec(SQL.eventsPlan)
            let numbered = try SQL.EventsNumber.row(conn.run(SQL.EventsNumber(limit: limit)))
            return numbered.count == 0 ? (0, last) : numbered
        }
    }

    /// Numbered events after `after`, oldest first (of one campaign, or of all when nil).
    public func events(after: Int64, campaignId: Int64? = nil, limit: Int = 1000) async throws -> [JobEvent] {
        try await self.pool.withConnection { conn in
            try conn.rows(SQL.EventsAfter(after: after, campaignId: campaignId, limit: limit))
        }
    }

    /// The highest eventId given and the oldest kept.
    public func eventBounds() async throws -> EventBounds {
        try await self.pool.withConnection { conn in try SQL.EventsBounds.row(conn.run(SQL.EventsBounds())) }
    }
}
