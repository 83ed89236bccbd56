import CampaignCore
import Foundation

// Campaigns: campaigns.create, .get, .list, .update, .pause, .resume, .end, .addMembers,
// .removeMembers.

/// Where a campaign stands. Only an ACTIVE campaign's jobs are leased (and only between its
/// `startsAt` and `endsAt`); a PAUSED one keeps its queue for later; an ENDED one is over for good.
public enum CampaignStatus: String, Codable, Sendable, Equatable, CaseIterable {
    case active = "ACTIVE"
    case paused = "PAUSED"
    case ended = "ENDED"
}

/// Whom a campaign's automatic runs consider: every customer, or its members only.
public enum CampaignAudience: String, Codable, Sendable, Equatable, CaseIterable {
    case all
    case members
}

/// A campaign as the wire shows it.
public struct CampaignView: Codable, Sendable, Equatable {
    /// `[a-z0-9-]{1,64}`, unique; `default` is the campaign of everything that names none.
    public var name: String
    public var title: String
    public var status: CampaignStatus
    /// RFC 3339; no job is leased before (nil: at once).
    public var startsAt: String?
    /// RFC 3339; the campaign ends by itself then (nil: never).
    public var endsAt: String?
    /// 1…1000: the campaign's weight in the share of leases among campaigns with jobs due.
    public var priority: Int
    public var audience: CampaignAudience
    /// Customers listed as members (counted for `members` audiences and shown for every campaign).
    public var members: Int
    public var createdAt: String
    public var updatedAt: String
    public var updatedBy: String
    public var endedAt: String?
    /// Why it ended: `ended` (by an operator) or `endsAt`.
    public var endedReason: String?
    public var settings: AutomationSettings

    public init(
        name: String, title: String, status: CampaignStatus, startsAt: String?, endsAt: String?, priority: Int,
        audience: CampaignAudience, members: Int, createdAt: String, updatedAt: String, updatedBy: String,
        endedAt: String?, endedReason: String?, settings: AutomationSettings
    ) {
        self.name = name
        self.title = title
        self.status = status
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.priority = priority
        self.audience = audience
        self.members = members
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
        self.endedAt = endedAt
        self.endedReason = endedReason
        self.settings = settings
    }
}

/// The campaign of everything that names none: today's settings and jobs, audience `all`.
public enum CampaignName {
    public static let `default` = "default"

    /// Whether `name` is a valid campaign name (`[a-z0-9-]{1,64}`).
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }
    }
}

/// `campaigns.create`: a new campaign; its settings are the default campaign's with `settings`
/// applied (validated like `automation.set`).
public enum CreateCampaign: RPCMethod {
    public static let name = "campaigns.create"
    public struct Params: Codable, Sendable, Equatable {
        public var name: String
        public var title: String?
        /// Start PAUSED (default: ACTIVE).
        public var paused: Bool?
        public var startsAt: String?
        public var endsAt: String?
        public var priority: Int?
        public var audience: CampaignAudience?
        public var settings: [String: JSONValue]?
        public init(
            name: String, title: String? = nil, paused: Bool? = nil, startsAt: String? = nil, endsAt: String? = nil,
            priority: Int? = nil, audience: CampaignAudience? = nil, settings: [String: JSONValue]? = nil
        ) {
            self.name = name
            self.title = title
            self.paused = paused
            self.startsAt = startsAt
            self.endsAt = endsAt
            self.priority = priority
            self.audience = audience
            self.settings = settings
        }
    }
    public typealias Result = CampaignView
}

/// The params of the methods that name one campaign.
public struct CampaignRef: Codable, Sendable, Equatable {
    public var name: String
    public init(name: String) { self.name = name }
}

/// `campaigns.get`: one campaign, with its settings.
public enum GetCampaign: RPCMethod {
    public static let name = "campaigns.get"
    public static let requiredRole = AccessRole.reader
    public typealias Params = CampaignRef
    public typealias Result = CampaignView
}

/// `campaigns.list`: every campaign (ended ones too, unless `active` only), by name.
public enum ListCampaigns: RPCMethod {
    public static let name = "campaigns.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        /// Leave out ENDED campaigns.
        public var open: Bool?
        public init(open: Bool? = nil) { self.open = open }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var campaigns: [CampaignView]
        public init(campaigns: [CampaignView]) { self.campaigns = campaigns }
    }
}

/// `campaigns.update`: changes some of a campaign's fields and settings (partial, validated
/// whole, each settings change logged with the caller's uid). `startsAt` / `endsAt` `null`
/// clear them. An ENDED campaign cannot change.
public enum UpdateCampaign: RPCMethod {
    public static let name = "campaigns.update"
    public struct Params: Codable, Sendable, Equatable {
        public var name: String
        public var title: String?
        public var startsAt: Nullable<String>?
        public var endsAt: Nullable<String>?
        public var priority: Int?
        public var audience: CampaignAudience?
        public var settings: [String: JSONValue]?
        public init(
            name: String, title: String? = nil, startsAt: Nullable<String>? = nil, endsAt: Nullable<String>? = nil,
            priority: Int? = nil, audience: CampaignAudience? = nil, settings: [String: JSONValue]? = nil
        ) {
            self.name = name
            self.title = title
            self.startsAt = startsAt
            self.endsAt = endsAt
            self.priority = priority
            self.audience = audience
            self.settings = settings
        }

        enum CodingKeys: String, CodingKey { case name, title, startsAt, endsAt, priority, audience, settings }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try c.decode(String.self, forKey: .name)
            self.title = try c.decodeIfPresent(String.self, forKey: .title)
            // Present and null clears; absent leaves as is.
            self.startsAt = c.contains(.startsAt) ? try c.decode(Nullable<String>.self, forKey: .startsAt) : nil
            self.endsAt = c.contains(.endsAt) ? try c.decode(Nullable<String>.self, forKey: .endsAt) : nil
            self.priority = try c.decodeIfPresent(Int.self, forKey: .priority)
            self.audience = try c.decodeIfPresent(CampaignAudience.self, forKey: .audience)
            self.settings = try c.decodeIfPresent([String: JSONValue].self, forKey: .settings)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(self.name, forKey: .name)
            try c.encodeIfPresent(self.title, forKey: .title)
            try c.encodeIfPresent(self.startsAt, forKey: .startsAt)
            try c.encodeIfPresent(self.endsAt, forKey: .endsAt)
            try c.encodeIfPresent(self.priority, forKey: .priority)
            try c.encodeIfPresent(self.audience, forKey: .audience)
            try c.encodeIfPresent(self.settings, forKey: .settings)
        }
    }
    public typealias Result = CampaignView
}

/// A JSON value that may be `null` on purpose (a field to clear), as opposed to absent.
public enum Nullable<Wrapped: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    case null
    case value(Wrapped)

    public var value: Wrapped? {
        if case .value(let v) = self { return v }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        self = c.decodeNil() ? .null : .value(try c.decode(Wrapped.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .value(let v): try c.encode(v)
        }
    }
}

/// `campaigns.pause`: its QUEUED jobs are not leased (calls in progress finish; a job leased and
/// not yet dialing goes back to the queue at its pre-dial check), and no automatic run enqueues
/// for it, until `campaigns.resume`.
public enum PauseCampaign: RPCMethod {
    public static let name = "campaigns.pause"
    public typealias Params = CampaignRef
    public typealias Result = CampaignView
}

/// `campaigns.resume`: a paused campaign's jobs are leased again.
public enum ResumeCampaign: RPCMethod {
    public static let name = "campaigns.resume"
    public typealias Params = CampaignRef
    public typealias Result = CampaignView
}

/// `campaigns.end`: ends a campaign for good: its QUEUED jobs are SKIPPED `campaign_ended`, a
/// job leased and not yet dialing is SKIPPED at its pre-dial check, calls in progress finish,
/// and enqueues into it are refused. The default campaign cannot end.
public enum EndCampaign: RPCMethod {
    public static let name = "campaigns.end"
    public typealias Params = CampaignRef
    public struct Result: Codable, Sendable, Equatable {
        public var campaign: CampaignView
        /// QUEUED jobs SKIPPED by this call.
        public var skipped: Int
        public init(campaign: CampaignView, skipped: Int) {
            self.campaign = campaign
            self.skipped = skipped
        }
    }
}

/// The params of `campaigns.addMembers` and `campaigns.removeMembers`: customers by external ref.
public struct CampaignMembersParams: Codable, Sendable, Equatable {
    public var name: String
    public var customerRefs: [String]
    public init(name: String, customerRefs: [String]) {
        self.name = name
        self.customerRefs = customerRefs
    }
}

/// What `campaigns.addMembers` / `campaigns.removeMembers` did.
public struct CampaignMembersResult: Codable, Sendable, Equatable {
    /// Members added (or removed) by this call.
    public var changed: Int
    /// Already members (or, removing, not members): nothing to do.
    public var unchanged: Int
    /// External refs of no customer.
    public var unknown: [String]
    /// Members after the call.
    public var members: Int
    public init(changed: Int, unchanged: Int, unknown: [String], members: Int) {
        self.changed = changed
        self.unchanged = unchanged
        self.unknown = unknown
        self.members = members
    }
}

/// `campaigns.addMembers`: lists customers (by `externalRef`) as members; idempotent.
public enum AddCampaignMembers: RPCMethod {
    public static let name = "campaigns.addMembers"
    public typealias Params = CampaignMembersParams
    public typealias Result = CampaignMembersResult
}

/// `campaigns.removeMembers`: takes customers off the list; their jobs already queued stay.
public enum RemoveCampaignMembers: RPCMethod {
    public static let name = "campaigns.removeMembers"
    public typealias Params = CampaignMembersParams
    public typealias Result = CampaignMembersResult
}
