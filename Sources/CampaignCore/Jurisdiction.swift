import Foundation

/// A rule of the law where the called person is (issue 15): the hours calls are allowed on their
/// own clock, and how many calls one number may get in 24 hours. Pure data.
public struct JurisdictionRule: Sendable, Equatable {
    /// An ISO 3166 country (`US`) or ISO 3166-2 subdivision (`US-FL`).
    public var region: String
    /// When calls are allowed, on the called person's wall clock.
    public var hours: CallingWindows
    /// At most this many calls to one number in any 24 hours (nil: the rule sets none).
    public var callsPer24h: Int?
    /// The law it encodes.
    public var source: String

    public init(region: String, hours: CallingWindows, callsPer24h: Int? = nil, source: String) {
        self.region = region
        self.hours = hours
        self.callsPer24h = callsPer24h
        self.source = source
    }

    /// The rule's country: `US` of `US-FL`.
    public var country: Substring { self.region.prefix { $0 != "-" } }
}

/// The floor the law puts under every campaign for one number: the rules that apply, their hours
/// together (a call must be allowed by all of them) and the lowest cap of calls per 24 hours.
public struct JurisdictionFloor: Sendable, Equatable {
    /// The rules applied, by region (for "why not now?").
    public var regions: [String]
    /// Nil when no rule applies (no floor: the campaign's windows alone).
    public var hours: CallingWindows?
    public var callsPer24h: Int?

    public static let none = JurisdictionFloor(regions: [], hours: nil, callsPer24h: nil)

    /// A campaign's windows, narrowed to the floor's hours: a setting cannot widen what the law allows.
    public func narrowing(_ windows: CallingWindows) -> CallingWindows {
        self.hours.map { windows.intersection($0) } ?? windows
    }
}

/// The shipped table of jurisdiction rules and how a number finds its own. Versioned: a change
/// of the table is a change of `version`, which the README and `customers.explain` show.
///
/// A number's jurisdiction is the stricter of a stated region (the customer's `region`, ISO
/// 3166-2) and what the number implies (its country calling code; for +1 the area code's state,
/// province or country, from ``NANPAreaCodes``): the rules of both apply. When neither names a
/// subdivision of a country, the strictest rules of that country apply (all of its
/// subdivisions' together), since the person may be anywhere in it; a +1 number of no known area
/// code (toll-free) may be anywhere in the US or Canada: the rules of both.
public enum Jurisdictions {
    public static let version = "2026-12-01"

    static func every(_ start: Int, _ end: Int, _ days: Set<Int> = Set(1...7)) -> CallingWindows.Window {
        CallingWindows.Window(isoWeekdays: days, startSecond: start, endSecond: end)
    }

    static func hm(_ h: Int, _ m: Int = 0) -> Int { h * 3600 + m * 60 }

    public static let rules: [JurisdictionRule] = [
        // 47 CFR § 64.1200(c)(1) (TCPA): no telephone solicitation "before the hour of 8 a.m. or
        // after 9 p.m. (local time at the called party's location)". Every day.
        JurisdictionRule(
            region: "US", hours: CallingWindows(windows: [Self.every(Self.hm(8), Self.hm(21))]),
            source: "47 CFR 64.1200(c)(1)"),
        // Fla. Stat. § 501.616(6)(a), as amended 2021 (SB 1120): calls only between 8 a.m. and
        // 8 p.m. in the called person's time zone; (6)(b): no more than 3 calls from any number
        // to the same person on the same subject in a 24-hour period.
        JurisdictionRule(
            region: "US-FL", hours: CallingWindows(windows: [Self.every(Self.hm(8), Self.hm(20))]), callsPer24h: 3,
            source: "Fla. Stat. 501.616(6)"),
        // Oklahoma Telephone Solicitation Act of 2022 (15 O.S. § 775C.1 ff.): 8 a.m. to 8 p.m. in
        // the called person's time zone, at most 3 calls in 24 hours on the same subject.
        JurisdictionRule(
            region: "US-OK", hours: CallingWindows(windows: [Self.every(Self.hm(8), Self.hm(20))]), callsPer24h: 3,
            source: "Oklahoma Telephone Solicitation Act of 2022 (15 O.S. 775C)"),
        // CRTC Unsolicited Telecommunications Rules, Part III (Telemarketing Rules): weekdays
        // 9:00 a.m.–9:30 p.m., Saturday and Sunday 10:00 a.m.–6:00 p.m., called party's local time.
        JurisdictionRule(
            region: "CA",
            hours: CallingWindows(windows: [
                Self.every(Self.hm(9), Self.hm(21, 30), [1, 2, 3, 4, 5]), Self.every(Self.hm(10), Self.hm(18), [6, 7]),
            ]),
            source: "CRTC Unsolicited Telecommunications Rules, Part III"),
    ]

    static let byRegion: [String: JurisdictionRule] = Dictionary(uniqueKeysWithValues: Self.rules.map { ($0.region, $0) })

    /// The NANP countries of the table: where a +1 number of no known area code may ring.
    static let nanpCountries = ["US", "CA"]

    /// The regions a number implies: for +1, its area code's subdivision or country, or (an area
    /// code of no single region: toll-free, personal) every NANP country of the table; for
    /// another calling code, none (no rule of the table is for one).
    public static func impliedRegions(ofPhone phone: String) -> [String] {
        let digits = phone.hasPrefix("+") ? phone.dropFirst() : Substring(phone)
        guard digits.first == "1", digits.count == 11, let npa = Int(digits.dropFirst().prefix(3)) else { return [] }
        return NANPAreaCodes.regions[npa].map { [$0] } ?? Self.nanpCountries
    }

    /// True for `US`, `US-FL`, `CA-ON`: two letters, then a dash and 1–3 letters or digits.
    public static func isRegionCode(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].count == 2, parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            return false
        }
        return parts.count == 1 || ((1...3).contains(parts[1].count) && parts[1].allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) })
    }

    /// The regions whose rules apply to `phone` with the customer's stated `region`, in the
    /// table's order.
    public static func applicableRegions(phone: String, stated: String?) -> [String] {
        let named = ([stated].compactMap { $0 } + Self.impliedRegions(ofPhone: phone)).filter(Self.isRegionCode)
        var regions = Set<String>()
        for r in named {
            regions.insert(String(r.prefix { $0 != "-" }))  // the country's own rule
            regions.insert(r)
        }
        // No subdivision known: the person may be anywhere in the country.
        for country in Set(named.map { String($0.prefix { $0 != "-" }) }) where !named.contains(where: { $0.hasPrefix(country + "-") }) {
            for rule in Self.rules where rule.country == country { regions.insert(rule.region) }
        }
        return Self.rules.map(\.region).filter(regions.contains)
    }

    /// The floor for `phone` with the customer's stated `region`.
    public static func floor(phone: String, stated: String?) -> JurisdictionFloor {
        Self.floor(regions: Self.applicableRegions(phone: phone, stated: stated))
    }

    /// A customer's jurisdiction as the database keeps it (`campaign.customers.jurisdiction`):
    /// the regions of the rules that apply, in the table's order, joined by commas (empty: none).
    public static func key(phone: String, stated: String?) -> String {
        Self.applicableRegions(phone: phone, stated: stated).joined(separator: ",")
    }

    /// The key of a customer whose jurisdiction is not known yet (a row written before the
    /// table, or before this version of it): every rule of the table, the strictest floor.
    public static var strictestKey: String { Self.rules.map(\.region).joined(separator: ",") }

    /// The floor of the rules named (regions of the table; others are ignored).
    public static func floor(regions: [String]) -> JurisdictionFloor {
        let rules = regions.compactMap { Self.byRegion[$0] }
        guard let first = rules.first else { return .none }
        let hours = rules.dropFirst().reduce(first.hours) { $0.intersection($1.hours) }
        let cap = rules.compactMap(\.callsPer24h).min()
        return JurisdictionFloor(regions: rules.map(\.region), hours: hours, callsPer24h: cap)
    }

    /// Every floor the table can give, by key: one for each set of its rules (the database's
    /// copy, `campaign.jurisdiction_floors`, holds these and is rewritten when `version` changes).
    public static var everyFloor: [(key: String, floor: JurisdictionFloor)] {
        let regions = Self.rules.map(\.region)
        return (1..<(1 << regions.count)).map { bits in
            let chosen = regions.enumerated().filter { bits & (1 << $0.offset) != 0 }.map(\.element)
            return (chosen.joined(separator: ","), Self.floor(regions: chosen))
        }
    }
}

extension CallingWindows {
    /// The windows open in both `self` and `other` (on the same wall clock), with the blackout
    /// dates of both.
    public func intersection(_ other: CallingWindows) -> CallingWindows {
        var byInterval: [ClosedRange<Int>: Set<Int>] = [:]  // start...end → weekdays
        var order: [ClosedRange<Int>] = []
        for day in 1...7 {
            for interval in Self.intervals(of: self.windows, on: day) {
                for o in Self.intervals(of: other.windows, on: day) {
                    let start = max(interval.lowerBound, o.lowerBound)
                    let end = min(interval.upperBound, o.upperBound)
                    guard start < end else { continue }
                    let key = start...end
                    if byInterval[key] == nil { order.append(key) }
                    byInterval[key, default: []].insert(day)
                }
            }
        }
        return CallingWindows(
            windows: order.map { Window(isoWeekdays: byInterval[$0]!, startSecond: $0.lowerBound, endSecond: $0.upperBound) },
            blackoutDays: self.blackoutDays.union(other.blackoutDays))
    }

    /// The windows of one weekday as disjoint intervals (start...end, end exclusive), merged
    /// where they overlap or touch.
    static func intervals(of windows: [Window], on day: Int) -> [ClosedRange<Int>] {
        let sorted = windows.filter { $0.isoWeekdays.contains(day) && $0.startSecond < $0.endSecond }
            .map { $0.startSecond...$0.endSecond }.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<Int>] = []
        for r in sorted {
            if let last = out.last, r.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }
}

extension Jurisdictions {
    /// Floors already worked out, by what decides them (the stated region, and for a +1 number
    /// its area code): the pre-dial check asks once per job, and a batch's jobs share a few.
    public struct FloorCache: Sendable {
        private var floors: [String: JurisdictionFloor] = [:]

        public init() {}

        public mutating func floor(phone: String, stated: String?) -> JurisdictionFloor {
            // Only a +1 number's area code is read (``Jurisdictions/impliedRegions(ofPhone:)``).
            let area = phone.utf8.count == 12 && phone.hasPrefix("+1") ? phone.prefix(5) : ""
            let key = "\(stated ?? "")|\(area)"
            if let known = self.floors[key] { return known }
            let floor = Jurisdictions.floor(phone: phone, stated: stated)
            if self.floors.count < 4096 { self.floors[key] = floor }
            return floor
        }
    }
}
