import Foundation
import CampaignCore
import CampaignProtocol
import CampaignStore

/// Row factories for tests.
public enum TestFactory {
    /// `n` valid customers `prefix-0001`… in a few timezones, with UK numbers (Ofcom's drama
    /// range): no rule of ``Jurisdictions`` applies to them, so their calls do not depend on the
    /// time of day the tests run at (the tests of the law use numbers of their own).
    public static func customers(_ n: Int, prefix: String = "cust") -> [ValidCustomer] {
        let zones = ["America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Sydney"]
        return (0..<n).map { i in
            ValidCustomer(
                externalRef: "\(prefix)-\(String(format: "%04d", i))", name: "Customer \(i)",
                phone: "+44207946\(String(format: "%04d", i % 10000))", timezone: zones[i % zones.count],
                status: nil, attributesJSON: nil)
        }
    }

    /// Inserts `n` customers and one job for each; returns the job ids.
    @discardableResult
    public static func jobs(
        _ store: PostgresJobStore, count n: Int, prefix: String = "cust", maxAttempts: Int = 3
    ) async throws -> [Int64] {
        _ = try await store.upsertCustomers(self.customers(n, prefix: prefix))
        let items = (0..<n).map { i in
            EnqueueItem(
                customerRef: "\(prefix)-\(String(format: "%04d", i))", queueJobId: "\(prefix)-job-\(i)", reason: "test",
                maxAttempts: maxAttempts)
        }
        return try await store.enqueue(items, defaultMaxAttempts: maxAttempts).compactMap(\.jobId)
    }
}

extension AutomationSettings {
    /// Settings under which every call is allowed at any hour: for tests about other things.
    public static var wideOpen: AutomationSettings {
        var s = AutomationSettings()
        s.workingHoursStart = "00:00"
        s.workingHoursEnd = "24:00"
        s.workingDays = [1, 2, 3, 4, 5, 6, 7]
        s.dailyCap = 10_000_000
        s.cooldownMinutes = 0
        s.maxConcurrentCalls = 100_000
        s.callsPerSecond = 10_000
        return s
    }

    /// The same as `campaign-ctl automation set` arguments.
    public static var wideOpenCtlArguments: [String] {
        [
            "workingHoursStart=00:00", "workingHoursEnd=24:00", "workingDays=1,2,3,4,5,6,7", "dailyCap=10000000",
            "cooldownMinutes=0", "maxConcurrentCalls=100000", "callsPerSecond=10000",
        ]
    }
}
