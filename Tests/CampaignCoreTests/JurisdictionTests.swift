import CampaignCore
import Foundation
import Testing

/// The jurisdiction rules of issue 15 from their sources: each rule's boundary minutes on both
/// sides, on both sides of the clock changes, Canada's weekends; which rules a number and a
/// stated region bring; and the intersection that keeps a campaign from widening them.
@Suite("Jurisdictions")
struct JurisdictionTests {
    static let newYork = TimeZone(identifier: "America/New_York")!
    static let chicago = TimeZone(identifier: "America/Chicago")!
    static let toronto = TimeZone(identifier: "America/Toronto")!

    /// Open around the clock, every day: the law alone decides.
    static let open = CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 0, endSecond: 86_400)])
    /// The operator's mistake of the issue: 07:00–22:00 every day.
    static let tooWide = CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 7 * 3600, endSecond: 22 * 3600)])

    /// The instant of a wall-clock reading `YYYY-MM-DD HH:MM:SS` in `zone`.
    static func local(_ text: String, _ zone: TimeZone) -> Date {
        let parts = text.split(separator: " ")
        let day = LocalTime.day(of: String(parts[0]))!
        let hms = parts[1].split(separator: ":").map { Int64($0)! }
        return LocalTime.instant(localSeconds: day * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2], in: zone)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var phone: String
        var zone: TimeZone
        var at: String
        var allowed: Bool
        var testDescription: String { "\(self.phone) at \(self.at) \(self.zone.identifier): \(self.allowed ? "allowed" : "refused")" }
    }

    /// Each rule's first and last allowed second and the seconds just outside, on ordinary days
    /// and on both sides of the 2026 clock changes (US and Canada: 8 March, 1 November).
    static let boundaries: [Case] = {
        var cases: [Case] = []
        func add(_ phone: String, _ zone: TimeZone, _ day: String, opens: String, closes: String) {
            let (oh, om) = (Int(opens.prefix(2))!, Int(opens.suffix(2))!)
            let (ch, cm) = (Int(closes.prefix(2))!, Int(closes.suffix(2))!)
            let beforeOpen = oh * 3600 + om * 60 - 1
            let beforeClose = ch * 3600 + cm * 60 - 1
            func clock(_ s: Int) -> String { String(format: "%02d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) }
            cases += [
                Case(phone: phone, zone: zone, at: "\(day) \(clock(beforeOpen))", allowed: false),
                Case(phone: phone, zone: zone, at: "\(day) \(opens):00", allowed: true),
                Case(phone: phone, zone: zone, at: "\(day) \(clock(beforeClose))", allowed: true),
                Case(phone: phone, zone: zone, at: "\(day) \(closes):00", allowed: false),
            ]
        }
        // TCPA, New York (212): 08:00–21:00 every day.
        for day in ["2026-12-02", "2026-12-06", "2026-03-07", "2026-03-08", "2026-10-31", "2026-11-01"] {
            add("+12125550100", Self.newYork, day, opens: "08:00", closes: "21:00")
        }
        // Florida (305), on New York's clock as Miami is: 08:00–20:00.
        for day in ["2026-12-02", "2026-12-05", "2026-03-08", "2026-11-01"] {
            add("+13055550100", Self.newYork, day, opens: "08:00", closes: "20:00")
        }
        // Oklahoma (405), Central time: 08:00–20:00.
        for day in ["2026-12-02", "2026-03-08", "2026-11-01"] {
            add("+14055550100", Self.chicago, day, opens: "08:00", closes: "20:00")
        }
        // Canada (416, Toronto): weekdays 09:00–21:30; Saturday and Sunday 10:00–18:00.
        for day in ["2026-12-04", "2026-03-09", "2026-11-02", "2026-03-06"] {  // Friday, Mondays after the changes, a Friday
            add("+14165550100", Self.toronto, day, opens: "09:00", closes: "21:30")
        }
        for day in ["2026-12-05", "2026-12-06", "2026-03-08", "2026-11-01"] {  // Sat, Sun, the changes' Sundays
            add("+14165550100", Self.toronto, day, opens: "10:00", closes: "18:00")
        }
        return cases
    }()

    @Test("each rule's boundary seconds, whatever the campaign's window", arguments: Self.boundaries)
    func boundarySeconds(_ c: Case) {
        let floor = Jurisdictions.floor(phone: c.phone, stated: nil)
        let instant = Self.local(c.at, c.zone)
        #expect(floor.narrowing(Self.open).contains(instant, in: c.zone) == c.allowed)
        // 07:00–22:00 set by mistake is narrowed to the law's hours.
        #expect(floor.narrowing(Self.tooWide).contains(instant, in: c.zone) == c.allowed)
    }

    @Test func aCampaignNarrowerThanTheLawKeepsItsOwnWindow() {
        let lunch = CallingWindows(windows: [.init(isoWeekdays: [1, 2, 3, 4, 5], startSecond: 12 * 3600, endSecond: 13 * 3600)])
        let narrowed = Jurisdictions.floor(phone: "+13055550100", stated: nil).narrowing(lunch)
        #expect(narrowed.windows == lunch.windows)
        // A window reaching past the law's end is cut at it: 19:00–23:00 becomes 19:00–20:00.
        let evening = CallingWindows(windows: [.init(isoWeekdays: [3], startSecond: 19 * 3600, endSecond: 23 * 3600)], blackoutDays: [1])
        let cut = Jurisdictions.floor(phone: "+13055550100", stated: nil).narrowing(evening)
        #expect(cut.windows == [.init(isoWeekdays: [3], startSecond: 19 * 3600, endSecond: 20 * 3600)])
        #expect(cut.blackoutDays == [1])
        // The next opening is the narrowed window's: 07:30 on that Wednesday opens at 19:00.
        let wednesday = Self.local("2026-12-02 07:30:00", Self.newYork)
        #expect(cut.nextOpening(after: wednesday, in: Self.newYork) == Self.local("2026-12-02 19:00:00", Self.newYork))
    }

    struct Resolution: Sendable, CustomTestStringConvertible {
        var phone: String
        var stated: String?
        var regions: [String]
        var cap: Int?
        var testDescription: String { "\(self.phone) stated \(self.stated ?? "-") → \(self.regions)" }
    }

    static let resolutions: [Resolution] = [
        Resolution(phone: "+13055550100", stated: nil, regions: ["US", "US-FL"], cap: 3),  // Miami
        Resolution(phone: "+12125550100", stated: nil, regions: ["US"], cap: nil),  // New York
        Resolution(phone: "+12125550100", stated: "US-OK", regions: ["US", "US-OK"], cap: 3),  // stated wins where stricter
        Resolution(phone: "+14055550100", stated: "US-NY", regions: ["US", "US-OK"], cap: 3),  // and the number's too
        // Toll-free: anywhere in the US or Canada.
        Resolution(phone: "+18005550100", stated: nil, regions: ["US", "US-FL", "US-OK", "CA"], cap: 3),
        Resolution(phone: "+18005550100", stated: "US-NY", regions: ["US", "CA"], cap: nil),
        Resolution(phone: "+18005550100", stated: "US", regions: ["US", "US-FL", "US-OK", "CA"], cap: 3),
        Resolution(phone: "+447911123456", stated: "US", regions: ["US", "US-FL", "US-OK"], cap: 3),  // somewhere in the US
        Resolution(phone: "+14165550100", stated: nil, regions: ["CA"], cap: nil),  // Toronto
        Resolution(phone: "+15145550100", stated: "CA-QC", regions: ["CA"], cap: nil),
        Resolution(phone: "+17875550100", stated: nil, regions: ["US"], cap: nil),  // Puerto Rico: a US jurisdiction
        Resolution(phone: "+18765550100", stated: nil, regions: [], cap: nil),  // Jamaica: no rule in the table
        Resolution(phone: "+447911123456", stated: nil, regions: [], cap: nil),  // the UK: none either
        Resolution(phone: "+447911123456", stated: "US-FL", regions: ["US", "US-FL"], cap: 3),  // a UK mobile in Florida
        Resolution(phone: "+13055550100", stated: "florida", regions: ["US", "US-FL"], cap: 3),  // not a region code: ignored
    ]

    @Test("the rules a number and a stated region bring", arguments: Self.resolutions)
    func resolution(_ r: Resolution) {
        let floor = Jurisdictions.floor(phone: r.phone, stated: r.stated)
        #expect(floor.regions == r.regions)
        #expect(floor.callsPer24h == r.cap)
        #expect((floor.hours == nil) == r.regions.isEmpty)
    }

    @Test func theStrictestRulesOfACountryAreTheirHoursTogether() throws {
        // Anywhere in the US: 08:00–20:00 (Florida's and Oklahoma's end, the TCPA's start).
        let us = try #require(Jurisdictions.floor(phone: "+447911123456", stated: "US").hours)
        #expect(us.windows == [.init(isoWeekdays: Set(1...7), startSecond: 8 * 3600, endSecond: 20 * 3600)])
        // Toll-free, anywhere in the US or Canada: weekdays 09:00–20:00, weekends 10:00–18:00.
        let nanp = try #require(Jurisdictions.floor(phone: "+18885550100", stated: nil).hours)
        #expect(nanp.windows == [
            .init(isoWeekdays: [1, 2, 3, 4, 5], startSecond: 9 * 3600, endSecond: 20 * 3600),
            .init(isoWeekdays: [6, 7], startSecond: 10 * 3600, endSecond: 18 * 3600),
        ])
    }

    @Test func regionCodes() {
        for ok in ["US", "US-FL", "CA-ON", "GB-LND", "FR-75"] { #expect(Jurisdictions.isRegionCode(ok), "\(ok)") }
        for bad in ["", "us", "USA", "US-", "US-FLOR", "US_FL", "U", "US-fl", "-FL"] { #expect(!Jurisdictions.isRegionCode(bad), "\(bad)") }
    }

    @Test func theAreaCodeTableNamesStatesProvincesAndCountries() {
        let t = NANPAreaCodes.regions
        #expect(t.count > 400)
        #expect(t[305] == "US-FL" && t[786] == "US-FL" && t[405] == "US-OK" && t[212] == "US-NY")
        #expect(t[416] == "CA-ON" && t[514] == "CA-QC" && t[604] == "CA-BC")
        #expect(t[876] == "JM" && t[787] == "US-PR")
        #expect(t[800] == nil && t[888] == nil && t[900] == nil)
        #expect(t.values.allSatisfy(Jurisdictions.isRegionCode))
        #expect(t.keys.allSatisfy { (200...999).contains($0) })
    }

    @Test func anIntersectionIsOpenExactlyWhenBothAre() {
        var rng = SplitMix64(seed: 15)
        let zone = Self.newYork
        func windows() -> CallingWindows {
            CallingWindows(windows: (0..<Int(rng.next() % 4)).map { _ in
                let start = Int(rng.next() % 96) * 900
                let end = min(86_400, start + Int(1 + rng.next() % 48) * 900)
                return .init(isoWeekdays: Set((1...7).filter { _ in rng.next() % 2 == 0 }), startSecond: start, endSecond: end)
            }, blackoutDays: rng.next() % 3 == 0 ? [20_424] : [])  // 2025-12-02
        }
        var mismatches = 0
        for _ in 0..<500 {
            let (a, b) = (windows(), windows())
            let both = a.intersection(b)
            for _ in 0..<40 {
                // An instant in 2025-12-01 … 2025-12-15, on a quarter-hour boundary or just before one.
                let t = Date(timeIntervalSince1970: 1_764_547_200 + Double(rng.next() % (14 * 96)) * 900 - Double(rng.next() % 2))
                if both.contains(t, in: zone) != (a.contains(t, in: zone) && b.contains(t, in: zone)) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    // MARK: The database's copy, the cache, the policy

    @Test func everyFloorIsEverySetOfRulesWithItsKey() {
        let floors = Jurisdictions.everyFloor
        #expect(floors.count == (1 << Jurisdictions.rules.count) - 1)
        #expect(Set(floors.map(\.key)).count == floors.count)
        for (key, floor) in floors {
            let regions = key.split(separator: ",").map(String.init)
            #expect(floor == Jurisdictions.floor(regions: regions))
            #expect(floor.regions == regions)
        }
        // Every key a customer can have is one of them (or empty: no rule, no row).
        let keys = Set(floors.map(\.key))
        for phone in ["+13055550100", "+14165550100", "+18005550100", "+12425550100", "+442079460001", "+15555550100"] {
            for stated in [nil, "US", "US-FL", "US-OK", "US-NY", "CA", "CA-ON", "MX", "GB-ENG"] {
                let key = Jurisdictions.key(phone: phone, stated: stated)
                #expect(key.isEmpty || keys.contains(key), "\(phone) \(stated ?? "-") → \(key)")
            }
        }
        #expect(keys.contains(Jurisdictions.strictestKey))
        #expect(Jurisdictions.key(phone: "+442079460001", stated: nil) == "")
        #expect(Jurisdictions.key(phone: "+13055550100", stated: nil) == "US,US-FL")
    }

    @Test func theCacheAnswersWhatTheTableDoes() {
        var cache = Jurisdictions.FloorCache()
        var rng = SplitMix64(seed: 15)
        let npas = ["305", "405", "212", "416", "800", "242", "555", "239"]
        for _ in 0..<2000 {
            let phone = Int.random(in: 0..<4, using: &rng) == 0
                ? "+4420794\(Int.random(in: 10000...99999, using: &rng))"
                : "+1\(npas[Int.random(in: 0..<npas.count, using: &rng)])\(Int.random(in: 1_000_000...9_999_999, using: &rng))"
            let stated = [nil, "US-FL", "CA", "US-NY", "MX"][Int.random(in: 0..<5, using: &rng)]
            #expect(cache.floor(phone: phone, stated: stated) == Jurisdictions.floor(phone: phone, stated: stated))
        }
    }

    @Test func thePolicyRefusesOutsideTheLawsHoursAndDefersIntoThem() throws {
        let policy = EligibilityPolicy(windows: Self.tooWide, cooldownSeconds: 0)
        let miami = Jurisdictions.floor(phone: "+13055550100", stated: nil)
        let customer = EligibilityPolicy.Customer(
            status: .active, phone: "+13055550100", timeZone: Self.newYork, lastCalledAt: nil,
            jurisdictionHours: miami.hours)
        // 07:30: the campaign's window (from 07:00) is open, the law's (from 08:00) is not.
        let early = Self.local("2026-12-02 07:30:00", Self.newYork)
        #expect(policy.reason(customer, now: early) == .jurisdictionHours)
        #expect(policy.reason(customer, now: Self.local("2026-12-02 06:59:59", Self.newYork)) == .outsideWorkingHours)
        #expect(policy.reason(customer, now: Self.local("2026-12-02 08:00:00", Self.newYork)) == nil)
        #expect(policy.reason(customer, now: Self.local("2026-12-02 20:00:00", Self.newYork)) == .jurisdictionHours)
        let verdict = policy.dialVerdict(
            customer, attempt: 1, callsToday: 0, dailyCap: 100, campaignTimeZone: Self.newYork, now: early)
        #expect(verdict == .deferred(rule: "jurisdiction_hours", until: Self.local("2026-12-02 08:00:00", Self.newYork)))
        // After 20:00 the next allowed instant is the next morning's 08:00.
        let late = Self.local("2026-12-02 21:15:00", Self.newYork)
        #expect(
            policy.dialVerdict(customer, attempt: 2, callsToday: 0, dailyCap: 100, campaignTimeZone: Self.newYork, now: late)
                == .deferred(rule: "jurisdiction_hours", until: Self.local("2026-12-03 08:00:00", Self.newYork)))
        // A campaign open only 21:00–23:00 never opens inside Florida's hours: refused, not deferred forever.
        let evenings = EligibilityPolicy(
            windows: CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 21 * 3600, endSecond: 23 * 3600)]),
            cooldownSeconds: 0)
        #expect(
            evenings.dialVerdict(customer, attempt: 1, callsToday: 0, dailyCap: 100, campaignTimeZone: Self.newYork, now: late)
                == .refused(rule: "jurisdiction_hours"))
        // A UK number has no floor: the campaign's 21:00–23:00 is its window.
        var uk = customer
        uk.phone = "+442079460001"
        uk.jurisdictionHours = Jurisdictions.floor(phone: uk.phone, stated: nil).hours
        #expect(uk.jurisdictionHours == nil)
        #expect(evenings.reason(uk, now: late) == nil)
    }
}
