import CampaignCore
import CampaignProtocol
import Foundation

// Row ↔ value helpers of the store: wire views from rows, jsonb text, settings rows.

extension CustomerView {
    init(row r: PQRow) throws {
        self.init(
            id: try r.int64("id"), externalRef: try r.string("external_ref"), name: r["name"] ?? "",
            phone: try r.string("phone"), timezone: try r.string("timezone"),
            status: CustomerStatus(rawValue: try r.string("status")) ?? .invalidNumber, lastCalledAt: r["last_called_at"],
            attributes: JSONText.decode(r["attributes"]), createdAt: try r.string("created_at"),
            updatedAt: try r.string("updated_at"), region: r["region"])
        self.jurisdiction = Jurisdictions.applicableRegions(phone: self.phone, stated: self.region)
        self.consent = r["consent"].flatMap { try? JSONDecoder().decode(Consent.self, from: Data($0.utf8)) }
    }
}

extension JobView {
    init(row r: PQRow) throws {
        self.init(
            id: try r.int64("id"), queueJobId: try r.string("queue_job_id"), customerId: try r.int64("customer_id"),
            customerRef: r["customer_ref"], status: JobStatus(rawValue: try r.string("status")) ?? .failed,
            phase: r["phase"].flatMap(JobPhase.init(rawValue:)), attemptsMade: try r.int("attempts_made"),
            maxAttempts: try r.int("max_attempts"), priority: try r.int("priority"), runAt: try r.string("run_at"),
            reason: r["reason"], result: JSONText.decode(r["result"]), leaseOwner: r["lease_owner"],
            leaseExpiresAt: r["lease_expires_at"], enqueuedAt: try r.string("enqueued_at"),
            startedAt: r["started_at"], completedAt: r["completed_at"], failedAt: r["failed_at"],
            updatedAt: try r.string("updated_at"), campaign: r["campaign_name"] ?? CampaignName.default)
    }
}

/// JSON text ↔ ``JSONValue`` for jsonb columns.
enum JSONText {
    /// A jsonb column's text (always valid JSON) as a value.
    static func decode(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONValue(jsonText: text)
    }

    /// A value as JSON text for a jsonb parameter.
    static func encode(_ value: JSONValue) -> String { value.jsonText }
}

/// Settings ↔ key/value rows (one row per field, so each change is logged on its own).
enum AutomationSettingsCoding {
    static func pairs(_ s: AutomationSettings) -> [(key: String, json: String)] {
        s.asObject().sorted { $0.key < $1.key }.map { ($0.key, JSONText.encode($0.value)) }
    }

    /// Stored values over the defaults; a stored value that no longer decodes is ignored (logged
    /// by the caller) rather than making every read fail.
    static func merge(_ o: [String: JSONValue], over d: AutomationSettings) -> AutomationSettings {
        var s = d
        for (k, v) in o where AutomationSettings.keys.contains(k) {
            if let next = try? s.applying([k: v]) { s = next }
        }
        return s
    }
}
