import CampaignCore
import Foundation

/// The automation settings (DESIGN §5), held in `automation_settings` one row per field.
///
/// Every field has a default; `problems()` validates all of them, and nothing is written unless
/// all pass.
public struct AutomationSettings: Codable, Sendable, Equatable {
    /// When on, the maintenance leader runs `automation.run` every `autoRunIntervalSeconds`.
    public var enabled: Bool = false
    /// The campaign's IANA timezone: the daily cap counts calls per day in it, and the
    /// automatic enqueue's idempotency key uses its date.
    public var timezone: String = "UTC"
    /// Local working hours, in each customer's own timezone: `HH:MM`, start inclusive, end
    /// exclusive (`24:00` = end of day).
    public var workingHoursStart: String = "09:00"
    public var workingHoursEnd: String = "18:00"
    /// ISO weekdays on which calls are placed (1 = Monday … 7 = Sunday), in the customer's timezone.
    public var workingDays: [Int] = [1, 2, 3, 4, 5]
    /// Several calling windows a day (`[{"days": [1,2,3,4,5], "start": "09:00", "end": "12:00"}, …]`),
    /// in each customer's timezone. Empty: the one window of `workingHoursStart`/`End`, `workingDays`.
    public var windows: [WindowSetting] = []
    /// Customer-local dates (`YYYY-MM-DD`) on which no call is placed.
    public var blackoutDates: [String] = []
    /// Calls placed per day in the campaign, at most.
    public var dailyCap: Int = 1000
    /// Minutes that must pass after a customer's last call before a new job calls them.
    public var cooldownMinutes: Int = 1440
    /// Calls to one phone number in any 24 hours, at most, counted over every job, retry,
    /// customer and campaign (0: no cap of the campaign's own). It can only lower the law's cap
    /// where the customer is (3 in Florida and Oklahoma), which applies whatever this says.
    public var maxCallsPerNumberPer24h: Int = 0
    /// Calls to one phone number on one date of the customer's clock, at most, counted the same
    /// way (0: no cap).
    public var maxCallsPerNumberPerDay: Int = 0
    /// Only customers with a consent on record are called (`no_consent`): the FCC treats an AI
    /// voice as an artificial voice, which needs the called party's prior express consent.
    public var requireConsent: Bool = false
    public var maxAttempts: Int = 3
    public var retryBaseMs: Int = 60_000
    public var retryFactor: Double = 2
    public var retryCapMs: Int = 3_600_000
    /// Retries by call outcome: `{"NO_ANSWER": {"delays": ["30m", "4h", "nextWindow"]}, …}`, the
    /// number of delays being that outcome's retries (within `maxAttempts`); outcomes not named
    /// back off exponentially (`retryBaseMs`, `retryFactor`, `retryCapMs`).
    public var retry: [String: RetrySetting] = [:]
    public var leaseSeconds: Int = 60
    /// How often the leader runs the automatic enqueue when `enabled`.
    public var autoRunIntervalSeconds: Int = 300
    /// Calls in progress at once, across all agents and coordinators: the provider's limit for
    /// every campaign together in the default campaign's settings, the campaign's own in another's.
    public var maxConcurrentCalls: Int = 20
    /// The provider's limit of call starts per second, across all agents and coordinators.
    public var callsPerSecond: Double = 5
    /// How long finished jobs, call logs and events are kept (the whole deployment's).
    public var retention = RetentionSetting()
    /// A job whose call's outcome is unknown is looked up at the provider by an agent that can
    /// (`jobs.reconcile`) at most once per this many seconds (the whole deployment's).
    public var reconcileIntervalSeconds: Int = 300
    /// For how long after such a job failed its lookups go on (0: no lookups but those an admin
    /// asks for with `jobs.reconcileNow`; the whole deployment's).
    public var reconcileWindowSeconds: Int = 86_400

    public init() {}

    public init(
        retryBaseMs: Int = 60_000, retryFactor: Double = 2, retryCapMs: Int = 3_600_000, maxAttempts: Int = 3,
        leaseSeconds: Int = 60
    ) {
        self.retryBaseMs = retryBaseMs
        self.retryFactor = retryFactor
        self.retryCapMs = retryCapMs
        self.maxAttempts = maxAttempts
        self.leaseSeconds = leaseSeconds
    }

    public var retryPolicy: RetryPolicy {
        RetryPolicy(baseMs: self.retryBaseMs, factor: self.retryFactor, capMs: self.retryCapMs)
    }

    /// The campaign's own caps of calls per number (``NumberFrequencyCap``; the law's is added
    /// per customer).
    public var numberCap: NumberFrequencyCap {
        NumberFrequencyCap(
            per24h: self.maxCallsPerNumberPer24h > 0 ? self.maxCallsPerNumberPer24h : nil,
            perLocalDay: self.maxCallsPerNumberPerDay > 0 ? self.maxCallsPerNumberPerDay : nil)
    }

    /// The retries by outcome (nil when a field is invalid).
    public var retrySchedule: RetrySchedule? {
        var delays: [CallOutcome: [RetrySchedule.Delay]] = [:]
        for (key, setting) in self.retry {
            guard let outcome = CallOutcome(rawValue: key) else { return nil }
            var list: [RetrySchedule.Delay] = []
            for text in setting.delays {
                guard let d = RetrySchedule.Delay(text) else { return nil }
                list.append(d)
            }
            delays[outcome] = list
        }
        return RetrySchedule(delays: delays)
    }

    /// The working hours as the eligibility policy reads them (nil when the fields are invalid).
    public var workingHours: WorkingHours? {
        guard let start = WorkingHours.parse(self.workingHoursStart), let end = WorkingHours.parse(self.workingHoursEnd)
        else { return nil }
        return WorkingHours(startSecond: start, endSecond: end, isoWeekdays: Set(self.workingDays))
    }

    /// When calls may be placed: `windows` (or the one window of the working hours) and the
    /// blackout dates (nil when a field is invalid).
    public var callingWindows: CallingWindows? {
        var blackout = Set<Int64>()
        for date in self.blackoutDates {
            guard let day = LocalTime.day(of: date) else { return nil }
            blackout.insert(day)
        }
        if self.windows.isEmpty {
            guard let hours = self.workingHours else { return nil }
            return CallingWindows(windows: CallingWindows(hours).windows, blackoutDays: blackout)
        }
        var out: [CallingWindows.Window] = []
        for w in self.windows {
            guard let start = WorkingHours.parse(w.start), let end = WorkingHours.parse(w.end) else { return nil }
            out.append(.init(isoWeekdays: Set(w.days), startSecond: start, endSecond: end))
        }
        return CallingWindows(windows: out, blackoutDays: blackout)
    }

    /// Checks every field; returns one message per problem (empty when valid).
    /// `knownTimezone` says whether a timezone name is known (to Foundation and PostgreSQL).
    public func problems(knownTimezone: (String) -> Bool = { _ in true }) -> [String] {
        var p: [String] = []
        if !knownTimezone(self.timezone) { p.append("timezone must be a known IANA timezone") }
        let start = WorkingHours.parse(self.workingHoursStart)
        let end = WorkingHours.parse(self.workingHoursEnd)
        if start == nil { p.append("workingHoursStart must be HH:MM (00:00…23:59)") }
        if end == nil { p.append("workingHoursEnd must be HH:MM (00:01…24:00)") }
        if let start, let end, start >= end { p.append("workingHoursStart must be before workingHoursEnd") }
        if self.workingDays.isEmpty || !self.workingDays.allSatisfy({ (1...7).contains($0) })
            || Set(self.workingDays).count != self.workingDays.count
        {
            p.append("workingDays must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)")
        }
        if self.windows.count > 32 { p.append("windows: at most 32") }
        for (i, w) in self.windows.enumerated() {
            let start = WorkingHours.parse(w.start)
            let end = WorkingHours.parse(w.end)
            if start == nil { p.append("windows[\(i)].start must be HH:MM (00:00…23:59)") }
            if end == nil { p.append("windows[\(i)].end must be HH:MM (00:01…24:00)") }
            if let start, let end, start >= end { p.append("windows[\(i)].start must be before its end") }
            if w.days.isEmpty || !w.days.allSatisfy({ (1...7).contains($0) }) || Set(w.days).count != w.days.count {
                p.append("windows[\(i)].days must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)")
            }
        }
        if self.blackoutDates.count > 1000 { p.append("blackoutDates: at most 1000") }
        if let bad = self.blackoutDates.first(where: { LocalTime.day(of: $0) == nil }) {
            p.append("blackoutDates must be YYYY-MM-DD dates (\(bad) is not)")
        }
        if !(0...10_000_000).contains(self.dailyCap) { p.append("dailyCap must be 0…10000000") }
        if !(0...525_600).contains(self.cooldownMinutes) { p.append("cooldownMinutes must be 0…525600") }
        if !(0...100).contains(self.maxCallsPerNumberPer24h) { p.append("maxCallsPerNumberPer24h must be 0…100 (0: none)") }
        if !(0...100).contains(self.maxCallsPerNumberPerDay) { p.append("maxCallsPerNumberPerDay must be 0…100 (0: none)") }
        if !(1...86_400_000).contains(self.retryBaseMs) { p.append("retryBaseMs must be 1…86400000") }
        if !(self.retryFactor >= 1 && self.retryFactor <= 10) { p.append("retryFactor must be 1…10") }
        if !(1...604_800_000).contains(self.retryCapMs) { p.append("retryCapMs must be 1…604800000") }
        if self.retryCapMs < self.retryBaseMs { p.append("retryCapMs must be ≥ retryBaseMs") }
        if !(1...100).contains(self.maxAttempts) { p.append("maxAttempts must be 1…100") }
        for key in self.retry.keys.sorted() {
            guard let outcome = CallOutcome(rawValue: key), outcome != .answered else {
                p.append("retry: \(key) is not an outcome that is retried (NO_ANSWER, BUSY, VOICEMAIL, REJECTED, FAILED)")
                continue
            }
            let delays = self.retry[key]!.delays
            if !(1...100).contains(delays.count) { p.append("retry.\(key).delays: 1…100 delays") }
            if let bad = delays.first(where: { RetrySchedule.Delay($0) == nil }) {
                p.append("retry.\(key).delays: \(bad) is not a delay (90s, 30m, 4h, 2d up to 7d, nextWindow, nextDay)")
            }
        }
        if !(5...3600).contains(self.leaseSeconds) { p.append("leaseSeconds must be 5…3600") }
        if !(10...86_400).contains(self.autoRunIntervalSeconds) { p.append("autoRunIntervalSeconds must be 10…86400") }
        if !(1...100_000).contains(self.maxConcurrentCalls) { p.append("maxConcurrentCalls must be 1…100000") }
        if !(self.callsPerSecond >= 0.01 && self.callsPerSecond <= 10_000) { p.append("callsPerSecond must be 0.01…10000") }
        if !(1...86_400).contains(self.reconcileIntervalSeconds) { p.append("reconcileIntervalSeconds must be 1…86400") }
        if !(0...2_592_000).contains(self.reconcileWindowSeconds) {
            p.append("reconcileWindowSeconds must be 0…2592000 (0: lookups only when asked)")
        }
        for (key, value) in self.retention.members where Retention.Period(value) == nil {
            p.append("retention.\(key): \(value) is not a period (12h, 30d: 1h…36500d, or forever)")
        }
        return p
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, timezone, workingHoursStart, workingHoursEnd, workingDays, windows, blackoutDates, dailyCap
        case cooldownMinutes, maxCallsPerNumberPer24h, maxCallsPerNumberPerDay, requireConsent
        case maxAttempts, retryBaseMs, retryFactor, retryCapMs, retry, leaseSeconds, autoRunIntervalSeconds
        case maxConcurrentCalls, callsPerSecond, retention, reconcileIntervalSeconds, reconcileWindowSeconds
    }

    /// The names of every setting.
    public static let keys: [String] = CodingKeys.allCases.map(\.rawValue)

    /// The settings of the whole deployment rather than of one campaign: the provider's rate of
    /// call starts, the length of a lease, the interval of the automatic runs. They are the
    /// default campaign's; every other campaign shows those values and refuses to change them.
    /// (`maxConcurrentCalls` is both: the default campaign's is the provider's limit across all
    /// campaigns, another campaign's is its own, lower one.)
    public static let deploymentKeys: Set<String> = [
        "callsPerSecond", "leaseSeconds", "autoRunIntervalSeconds", "retention", "reconcileIntervalSeconds",
        "reconcileWindowSeconds",
    ]

    /// These settings with the deployment's own (``deploymentKeys``) taken from `deployment`.
    public func withDeployment(of deployment: AutomationSettings) -> AutomationSettings {
        var s = self
        s.callsPerSecond = deployment.callsPerSecond
        s.leaseSeconds = deployment.leaseSeconds
        s.autoRunIntervalSeconds = deployment.autoRunIntervalSeconds
        s.retention = deployment.retention
        s.reconcileIntervalSeconds = deployment.reconcileIntervalSeconds
        s.reconcileWindowSeconds = deployment.reconcileWindowSeconds
        return s
    }

    /// Missing fields take their defaults (settings stored before a field existed keep working).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutomationSettings()
        func v<T: Decodable>(_ k: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? fallback }
        self.enabled = try v(.enabled, d.enabled)
        self.timezone = try v(.timezone, d.timezone)
        self.workingHoursStart = try v(.workingHoursStart, d.workingHoursStart)
        self.workingHoursEnd = try v(.workingHoursEnd, d.workingHoursEnd)
        self.workingDays = try v(.workingDays, d.workingDays)
        self.windows = try v(.windows, d.windows)
        self.blackoutDates = try v(.blackoutDates, d.blackoutDates)
        self.dailyCap = try v(.dailyCap, d.dailyCap)
        self.cooldownMinutes = try v(.cooldownMinutes, d.cooldownMinutes)
        self.maxCallsPerNumberPer24h = try v(.maxCallsPerNumberPer24h, d.maxCallsPerNumberPer24h)
        self.maxCallsPerNumberPerDay = try v(.maxCallsPerNumberPerDay, d.maxCallsPerNumberPerDay)
        self.requireConsent = try v(.requireConsent, d.requireConsent)
        self.maxAttempts = try v(.maxAttempts, d.maxAttempts)
        self.retryBaseMs = try v(.retryBaseMs, d.retryBaseMs)
        self.retryFactor = try v(.retryFactor, d.retryFactor)
        self.retryCapMs = try v(.retryCapMs, d.retryCapMs)
        self.retry = try v(.retry, d.retry)
        self.leaseSeconds = try v(.leaseSeconds, d.leaseSeconds)
        self.autoRunIntervalSeconds = try v(.autoRunIntervalSeconds, d.autoRunIntervalSeconds)
        self.maxConcurrentCalls = try v(.maxConcurrentCalls, d.maxConcurrentCalls)
        self.callsPerSecond = try v(.callsPerSecond, d.callsPerSecond)
        self.retention = try v(.retention, d.retention)
        self.reconcileIntervalSeconds = try v(.reconcileIntervalSeconds, d.reconcileIntervalSeconds)
        self.reconcileWindowSeconds = try v(.reconcileWindowSeconds, d.reconcileWindowSeconds)
    }
}

extension AutomationSettings {
    /// The settings as a JSON object, one member per setting.
    public func asObject() -> [String: JSONValue] {
        // Encoding plain numbers, strings and arrays cannot fail.
        let data = (try? JSONEncoder().encode(self)) ?? Data("{}".utf8)
        if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data) { return o }
        return [:]
    }

    /// These settings with `patch` applied. Unknown keys and wrong types are refused, with the
    /// key named.
    public func applying(_ patch: [String: JSONValue]) throws -> AutomationSettings {
        if let unknown = patch.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw SettingsError(message: "unknown setting \(unknown)")
        }
        var object = self.asObject()
        for (k, v) in patch { object[k] = v }
        return try Self.from(object: object)
    }

    /// Settings from a JSON object; missing members take their defaults.
    public static func from(object: [String: JSONValue]) throws -> AutomationSettings {
        do {
            let data = try JSONEncoder().encode(JSONValue.object(object))
            return try JSONDecoder().decode(AutomationSettings.self, from: data)
        } catch let e as DecodingError {
            let key: String
            switch e {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                key = c.codingPath.first?.stringValue ?? "settings"
            case .keyNotFound(let k, _): key = k.stringValue
            @unknown default: key = "settings"
            }
            throw SettingsError(message: "\(key) has the wrong type")
        }
    }
}

/// One calling window of the settings, on each customer's wall clock.
public struct WindowSetting: Codable, Sendable, Equatable {
    /// ISO weekdays (1 = Monday … 7 = Sunday).
    public var days: [Int]
    /// `HH:MM`, inclusive.
    public var start: String
    /// `HH:MM`, exclusive (`24:00` = end of day).
    public var end: String

    public init(days: [Int], start: String, end: String) {
        self.days = days
        self.start = start
        self.end = end
    }
}

/// The retries of one call outcome: the delay before each (`90s`, `30m`, `4h`, `2d`, `nextWindow`, `nextDay`).
public struct RetrySetting: Codable, Sendable, Equatable {
    public var delays: [String]
    public init(delays: [String]) { self.delays = delays }
}

/// The `retention` setting: a period per kind of row (`12h`, `30d`, `forever`). Members left
/// out keep their defaults.
public struct RetentionSetting: Codable, Sendable, Equatable {
    public var COMPLETED = "30d"
    public var SKIPPED = "30d"
    public var FAILED = "90d"
    public var callLogs = "400d"
    public var events = "7d"

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RetentionSetting()
        self.COMPLETED = try c.decodeIfPresent(String.self, forKey: .COMPLETED) ?? d.COMPLETED
        self.SKIPPED = try c.decodeIfPresent(String.self, forKey: .SKIPPED) ?? d.SKIPPED
        self.FAILED = try c.decodeIfPresent(String.self, forKey: .FAILED) ?? d.FAILED
        self.callLogs = try c.decodeIfPresent(String.self, forKey: .callLogs) ?? d.callLogs
        self.events = try c.decodeIfPresent(String.self, forKey: .events) ?? d.events
    }

    enum CodingKeys: String, CodingKey { case COMPLETED, SKIPPED, FAILED, callLogs, events }

    /// Every member, by name.
    public var members: [(key: String, value: String)] {
        [("COMPLETED", self.COMPLETED), ("SKIPPED", self.SKIPPED), ("FAILED", self.FAILED), ("callLogs", self.callLogs), ("events", self.events)]
    }

    /// The periods (members that do not parse keep their defaults: validation refuses them first).
    public var policy: Retention {
        let d = RetentionSetting()
        func p(_ v: String, _ fallback: String) -> Retention.Period { Retention.Period(v) ?? Retention.Period(fallback)! }
        return Retention(
            completed: p(self.COMPLETED, d.COMPLETED), skipped: p(self.SKIPPED, d.SKIPPED), failed: p(self.FAILED, d.FAILED),
            callLogs: p(self.callLogs, d.callLogs), events: p(self.events, d.events))
    }
}

/// A settings patch that cannot be applied.
public struct SettingsError: Error, Sendable, Equatable {
    public var message: String
}
