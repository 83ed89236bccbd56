import Foundation

/// Local working hours: a time window and the weekdays it applies to, read in a customer's own
/// timezone. Pure value.
public struct WorkingHours: Sendable, Equatable {
    /// Seconds after local midnight; start inclusive, end exclusive (86400 = end of day).
    public var startSecond: Int
    public var endSecond: Int
    /// ISO weekdays: 1 = Monday … 7 = Sunday.
    public var isoWeekdays: Set<Int>

    public init(startSecond: Int, endSecond: Int, isoWeekdays: Set<Int>) {
        self.startSecond = startSecond
        self.endSecond = endSecond
        self.isoWeekdays = isoWeekdays
    }

    /// `HH:MM` → seconds after midnight (`24:00` allowed as the end of the day).
    public static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        // Exactly two ASCII digits each ("+9" and "-0" parse as Int, but are not HH).
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let h = Int(parts[0]), let m = Int(parts[1]),
            (0...24).contains(h), (0...59).contains(m), h < 24 || m == 0
        else { return nil }
        return h * 3600 + m * 60
    }

    /// True when `instant` falls inside the window in `timeZone` (DST-correct: the local wall
    /// clock is what counts).
    public func contains(_ instant: Date, in timeZone: TimeZone) -> Bool {
        let local = LocalTime(instant, timeZone)
        return self.isoWeekdays.contains(local.isoWeekday) && local.secondOfDay >= self.startSecond
            && local.secondOfDay < self.endSecond
    }
}

/// The wall-clock reading of an instant in a timezone.
public struct LocalTime: Sendable, Equatable {
    public var isoWeekday: Int
    /// Whole seconds after local midnight (fractions dropped).
    public var secondOfDay: Int
    /// The local calendar date, `YYYY-MM-DD`.
    public var date: String
    /// The same date as days since 1970-01-01.
    public var day: Int64

    /// The zone's offset at that instant, then plain calendar arithmetic (days since 1970 to a
    /// proleptic Gregorian date): a `Calendar` and `String(format:)` per call took 3 % of the
    /// coordinator's CPU in issue 11's drain. Tests hold it to `Calendar` in every zone.
    public init(_ instant: Date, _ timeZone: TimeZone) {
        let offset = timeZone.secondsFromGMT(for: instant)
        // Whole seconds, rounded down (also before 1970), shifted to local wall-clock time.
        let local = Int64((instant.timeIntervalSince1970).rounded(.down)) + Int64(offset)
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        self.secondOfDay = Int(local - days * 86_400)
        // 1970-01-01 was a Thursday (ISO 4).
        self.isoWeekday = Self.isoWeekday(ofDay: days)
        self.day = days
        let (y, m, d) = Self.civil(fromDays: days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        self.date = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Year, month, day of the day `days` after 1970-01-01 (the well-known era algorithm: 400-year
    /// eras of 146,097 days, years starting in March so that the leap day comes last).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097  // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365  // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)  // [0, 365]
        let mp = (5 * doy + 2) / 153  // [0, 11], March = 0
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

/// Who may be called now (DESIGN §5): the reference policy. The bulk SQL of `automation.run`
/// encodes the same rules, in the same order; randomized tests hold the two to the same answers.
public struct EligibilityPolicy: Sendable, Equatable {
    /// Why a customer is left out. The first rule that fails is the reason; the order is part
    /// of the contract (it decides which reason a customer is counted under).
    public enum Reason: String, Sendable, Equatable, CaseIterable, Codable {
        /// The customer's status is not ACTIVE (opted out, do not call, converted, invalid number).
        case notActive = "not_active"
        case invalidPhone = "invalid_phone"
        /// The number is on the suppression list (an opt-out, a do-not-call entry), unexpired.
        case suppressed = "suppressed"
        /// The campaign requires prior express consent and the customer has none on record.
        case noConsent = "no_consent"
        /// Now is outside working hours in the customer's own timezone.
        case outsideWorkingHours = "outside_working_hours"
        /// The campaign's windows are open, but the law where the customer is does not allow a
        /// call now (``Jurisdictions``): a setting cannot widen the law's hours.
        case jurisdictionHours = "jurisdiction_hours"
        /// The customer was called less than the cooldown ago.
        case cooldown = "cooldown"
        /// The customer's number has had as many calls as its caps allow (the law's calls per
        /// 24 hours where the customer is, the campaign's own per 24 hours and per local day),
        /// counted over every job, retry, customer and campaign that called it.
        case numberFrequency = "number_frequency"
        /// The customer already has a QUEUED or ACTIVE job.
        case openJob = "open_job"
        /// The customer already has today's automatic job (idempotency per local date).
        case alreadyEnqueuedToday = "already_enqueued_today"
        /// Today's cap of calls is reached.
        case dailyCap = "daily_cap"

        /// The rules of one customer, in contract order (all but the daily cap).
        public static let customerRules: [Reason] = Reason.allCases.filter { $0 != .dailyCap }

        /// The rules that waiting does not satisfy: at the pre-dial check they refuse (SKIPPED).
        public static let waitingDoesNotHelp: Set<Reason> = [.notActive, .invalidPhone, .suppressed, .noConsent]
    }

    /// What the policy needs to know of one customer.
    public struct Customer: Sendable, Equatable {
        public var status: CustomerStatus
        public var phone: String
        public var timeZone: TimeZone
        public var lastCalledAt: Date?
        public var hasOpenJob: Bool
        public var hasTodaysJob: Bool
        /// The hours the law allows where the customer is (``JurisdictionFloor/hours``; nil: no rule).
        public var jurisdictionHours: CallingWindows?
        /// The first instant the number's call caps allow one more call
        /// (``NumberFrequencyCap/nextAllowed(after:calls:in:)``; nil: no cap applies).
        public var numberFreeAt: Date?
        /// The number is on the suppression list now.
        public var suppressed = false
        /// A consent is on record for the customer.
        public var hasConsent = false

        public init(
            status: CustomerStatus, phone: String, timeZone: TimeZone, lastCalledAt: Date?, hasOpenJob: Bool = false,
            hasTodaysJob: Bool = false, jurisdictionHours: CallingWindows? = nil, numberFreeAt: Date? = nil
        ) {
            self.jurisdictionHours = jurisdictionHours
            self.numberFreeAt = numberFreeAt
            self.status = status
            self.phone = phone
            self.timeZone = timeZone
            self.lastCalledAt = lastCalledAt
            self.hasOpenJob = hasOpenJob
            self.hasTodaysJob = hasTodaysJob
        }
    }

    /// When calls may be placed, on each customer's wall clock.
    public var windows: CallingWindows
    public var cooldownSeconds: Int
    /// Only customers with a consent on record are called (`no_consent`).
    public var requireConsent: Bool

    public init(windows: CallingWindows, cooldownSeconds: Int, requireConsent: Bool = false) {
        self.windows = windows
        self.cooldownSeconds = cooldownSeconds
        self.requireConsent = requireConsent
    }

    /// One window (the older settings).
    public init(workingHours: WorkingHours, cooldownSeconds: Int) {
        self.init(windows: CallingWindows(workingHours), cooldownSeconds: cooldownSeconds)
    }

    /// The customer's rules, in contract order, without the daily cap (a campaign-wide count).
    /// Returns nil when the customer may be called now.
    ///
    /// Instants are judged at whole microseconds, floored — PostgreSQL's resolution — so the
    /// Swift and SQL paths agree even a fraction of a microsecond before a boundary.
    public func reason(_ c: Customer, now: Date) -> Reason? {
        let now = now.flooredToMicroseconds
        for rule in Reason.customerRules where !self.passes(rule, c, atFloored: now) { return rule }
        return nil
    }

    /// Whether `c` passes one rule at `now` (`customers.explain` asks each; ``reason(_:now:)``
    /// is the first that fails, so the two cannot disagree). The daily cap, a campaign-wide
    /// count, always passes here.
    public func passes(_ rule: Reason, _ c: Customer, now: Date) -> Bool {
        self.passes(rule, c, atFloored: now.flooredToMicroseconds)
    }

    func passes(_ rule: Reason, _ c: Customer, atFloored now: Date) -> Bool {
        switch rule {
        case .notActive: return c.status == .active
        case .invalidPhone: return PhoneNumber.isValidE164(c.phone)
        case .suppressed: return !c.suppressed
        case .noConsent: return !self.requireConsent || c.hasConsent
        case .outsideWorkingHours: return self.windows.contains(now, in: c.timeZone)
        case .jurisdictionHours: return c.jurisdictionHours?.contains(now, in: c.timeZone) ?? true
        case .cooldown:
            // A stored time is whole microseconds already (PostgreSQL rounds on input): round, not
            // floor, so the double that carries it does not lose its last microsecond.
            guard let last = c.lastCalledAt?.roundedToMicroseconds else { return true }
            return now.timeIntervalSince(last) >= Double(self.cooldownSeconds)
        case .numberFrequency: return c.numberFreeAt.map { $0 <= now } ?? true
        case .openJob: return !c.hasOpenJob
        case .alreadyEnqueuedToday: return !c.hasTodaysJob
        case .dailyCap: return true
        }
    }

    /// The pre-dial check of one job's customer at `now` (DESIGN §4, §5: "the same rules are
    /// checked once more at jobs.dialing"). The open-job and today's-job rules do not apply (the
    /// job is the open one); the cooldown applies to a job's first attempt only — a retry follows
    /// its own backoff; the cap counts the calls already placed today (campaign-local day, in
    /// `campaignTimeZone`).
    ///
    /// A rule that will not change by waiting (not active, invalid phone, suppressed, no consent) refuses: the job is
    /// SKIPPED. One that waiting satisfies — outside the working hours, the cooldown, the number's
    /// call caps, today's cap — defers: the job waits until the first instant at which all pass
    /// (the cooldown's end, the number's next free instant, the next campaign day when the cap is
    /// spent, then the next opening of the
    /// working hours, narrowed to the law's, on the customer's wall clock), with the first failing
    /// rule as the reason. Working hours that never open refuse as `outside_working_hours`; hours
    /// that open only where the law does not allow a call refuse as `jurisdiction_hours`.
    public func dialVerdict(
        _ c: Customer, attempt: Int, callsToday: Int, dailyCap: Int, campaignTimeZone: TimeZone, now: Date
    ) -> JobStateMachine.DialVerdict {
        var c = c
        c.hasOpenJob = false
        c.hasTodaysJob = false
        if attempt > 1 { c.lastCalledAt = nil }
        let capSpent = callsToday >= dailyCap
        guard let rule = self.reason(c, now: now)?.rawValue ?? (capSpent ? Reason.dailyCap.rawValue : nil) else {
            return .allowed
        }
        if let r = Reason(rawValue: rule), Reason.waitingDoesNotHelp.contains(r) { return .refused(rule: rule) }
        var earliest = now.flooredToMicroseconds
        if let last = c.lastCalledAt?.roundedToMicroseconds {
            earliest = max(earliest, last.addingTimeInterval(Double(self.cooldownSeconds)))
        }
        if let free = c.numberFreeAt { earliest = max(earliest, free) }
        if capSpent {
            let today = LocalTime(now, campaignTimeZone).day
            earliest = max(earliest, LocalTime.instant(localSeconds: (today + 1) * 86_400, in: campaignTimeZone))
        }
        let windows = c.jurisdictionHours.map { self.windows.intersection($0) } ?? self.windows
        guard let opening = windows.nextOpening(after: earliest, in: c.timeZone) else {
            let never = self.windows.nextOpening(after: earliest, in: c.timeZone) == nil
            return .refused(rule: (never ? Reason.outsideWorkingHours : Reason.jurisdictionHours).rawValue)
        }
        return .deferred(rule: rule, until: opening)
    }
}

extension Date {
    /// This instant floored to whole microseconds (computed from the reference date, which is
    /// what `Date` stores, so nothing is lost on the way).
    public var flooredToMicroseconds: Date {
        let us = (self.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down)
        return Date(timeIntervalSinceReferenceDate: us / 1_000_000)
    }

    /// This instant rounded to the nearest microsecond, as PostgreSQL stores a timestamp.
    public var roundedToMicroseconds: Date {
        let us = (self.timeIntervalSinceReferenceDate * 1_000_000).rounded()
        return Date(timeIntervalSinceReferenceDate: us / 1_000_000)
    }
}
