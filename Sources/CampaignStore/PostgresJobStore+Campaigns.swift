import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Campaigns

extension PostgresJobStore {
    /// Every campaign with its settings, by id.
    public func campaigns() async throws -> [CampaignRecord] {
        try await self.pool.withConnection { conn in
            try Self.campaigns(conn)
        }
    }

    static func campaigns(_ conn: PQConnection) throws -> [CampaignRecord] {
        let rows = try conn.rows(SQL.CampaignsAll())
        let settings = try Self.settingsByCampaign(conn)
        return rows.map { $0.with(settings: settings[$0.id] ?? settings[CampaignRecord.defaultID] ?? AutomationSettings()) }
    }

    /// Each campaign's stored settings over the defaults; the deployment's own from the default
    /// campaign's.
    static func settingsByCampaign(_ conn: PQConnection) throws -> [Int64: AutomationSettings] {
        var objects: [Int64: [String: JSONValue]] = [:]
        for (campaign, key, value) in try conn.rows(SQL.SettingsAll()) {
            objects[campaign, default: [:]][key] = JSONText.decode(value)
        }
        let deployment = AutomationSettingsCoding.merge(objects[CampaignRecord.defaultID] ?? [:], over: AutomationSettings())
        var out: [Int64: AutomationSettings] = [CampaignRecord.defaultID: deployment]
        for (campaign, object) in objects where campaign != CampaignRecord.defaultID {
            out[campaign] = AutomationSettingsCoding.merge(object, over: AutomationSettings()).withDeployment(of: deployment)
        }
        return out
    }

    /// How many members each of the given campaigns lists.
    public func memberCounts(_ ids: [Int64]) async throws -> [Int64: Int] {
        guard !ids.isEmpty else { return [:] }
        return try await self.pool.withConnection { conn in
            Dictionary(try conn.rows(SQL.CampaignMembersCount(ids: ids)), uniquingKeysWith: { a, _ in a })
        }
    }

    /// Creates a campaign with its settings (all but the deployment's own); nil when the name is taken.
    public func createCampaign(_ d: CampaignRecord, by: String) async throws -> CampaignRecord? {
        try await self.pool.transaction { conn in
            guard let id = try conn.rows(SQL.CampaignsInsert(row: d, by: by)).first else { return nil }
            try conn.run(SQL.SettingsWrite(pairs: Self.campaignPairs(d.settings, id: id), by: by, campaignId: id))
            return try Self.campaigns(conn).first { $0.id == id }
        }
    }

    /// The settings rows a campaign stores: all of them for the default campaign, the rest
    /// without the deployment's own.
    static func campaignPairs(_ s: AutomationSettings, id: Int64) -> [(key: String, json: String)] {
        let pairs = AutomationSettingsCoding.pairs(s)
        return id == CampaignRecord.defaultID ? pairs : pairs.filter { !AutomationSettings.deploymentKeys.contains($0.key) }
    }

    /// Changes a campaign as `change` decides, under the campaign row's lock: its fields and its
    /// settings (each changed setting logged with `by`); a failure `change` answers writes
    /// nothing and is answered. Nil when there is no such campaign. `change` runs inside the
    /// transaction: it must decide at once, without waiting on anything.
    public func updateCampaign<E: Error>(
        name: String, by: String, _ change: @escaping @Sendable (CampaignRecord) -> Result<CampaignRecord, E>
    ) async throws -> Result<CampaignRecord, E>? {
        try await self.pool.transaction { conn in
            guard let row = try conn.rows(SQL.CampaignsLock(name: name)).first else { return nil }
            let settings = try Self.settingsByCampaign(conn)
            let current = row.with(settings: settings[row.id] ?? settings[CampaignRecord.defaultID] ?? AutomationSettings())
            var next: CampaignRecord
            switch change(current) {
            case .failure(let e): return .failure(e)
            case .success(let n): next = n
            }
            next.id = row.id  // the campaign changed is the one locked
            try conn.run(SQL.CampaignsWrite(row: next, by: by))
            if next.settings != current.settings {
                try conn.run(SQL.SettingsWrite(pairs: Self.campaignPairs(next.settings, id: row.id), by: by, campaignId: row.id))
            }
            if next.status == .active && current.status != .active { try self.notifyJobsAvailable(conn) }
            return try Self.campaigns(conn).first { $0.id == row.id }.map { .success($0) }
        }
    }

    /// SKIPs (`campaign_ended`, by the state machine) the QUEUED jobs of every ENDED campaign,
    /// `batch` at a time, each batch its own transaction; answers how many.
    @discardableResult
    public func skipJobsOfEndedCampaigns(batch: Int = 1000) async throws -> Int {
        var total = 0
        while true {
            let n = try await self.pool.transaction { conn in
                let jobs = LockedJob.byId(try conn.rows(SQL.JobsLockQueuedOfEnded(limit: batch)))
                return try self.applyEvent(.campaignEnded, to: jobs, conn).count
            }
            total += n
            if n < batch { return total }
        }
    }

    /// How many of the campaign's jobs were SKIPPED because it ended.
    public func endedSkips(campaignId: Int64) async throws -> Int {
        try await self.pool.withConnection { conn in
            try SQL.JobsCountEndedSkips.row(conn.run(SQL.JobsCountEndedSkips(campaignId: campaignId)))
        }
    }

    /// Ends every campaign whose `endsAt` has passed, and SKIPs their QUEUED jobs; answers the
    /// campaigns ended and the jobs skipped.
    public func endOverdueCampaigns(by: String) async throws -> (campaigns: Int, jobs: Int) {
        let ended = try await self.pool.withConnection { conn in try conn.rows(SQL.CampaignsEndOverdue(by: by)) }
        return (ended.count, try await self.skipJobsOfEndedCampaigns())
    }

    /// What a change of a campaign's members did.
    public struct MembersChange: Sendable, Equatable {
        public var changed: Int
        public var unchanged: Int
        public var unknown: [String]
    }

    /// Adds (or removes) customers by external ref to the members of a campaign, idempotently.
    public func changeMembers(campaignId: Int64, refs: [String], remove: Bool) async throws -> MembersChange {
        try await self.pool.withConnection { conn in
            var out = MembersChange(changed: 0, unchanged: 0, unknown: [])
            for (ref, known, changed) in try conn.rows(SQL.CampaignMembersChange(campaignId: campaignId, refs: refs, remove: remove)) {
                if !known {
                    out.unknown.append(ref)
                } else if changed {
                    out.changed += 1
                } else {
                    out.unchanged += 1
                }
            }
            out.unknown.sort()
            return out
        }
    }

    /// Calls in progress and call starts today (in each campaign's timezone), per campaign.
    public func callCounts(_ campaigns: [(id: Int64, timezone: String)]) async throws -> [Int64: (dialing: Int, today: Int)] {
        guard !campaigns.isEmpty else { return [:] }
        return try await self.pool.withConnection { conn in
            var out: [Int64: (dialing: Int, today: Int)] = [:]
            for (id, dialing, today) in try conn.rows(
                SQL.CampaignsCallCounts(ids: campaigns.map(\.id), timezones: campaigns.map(\.timezone)))
            {
                out[id] = (dialing, today)
            }
            return out
        }
    }
}
