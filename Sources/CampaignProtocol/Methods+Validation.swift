import Foundation

// Each method's params checked against ``ParamLimits``: what `validate()` refuses, with the
// message the caller reads. The router runs these before the handler (see `RPCRouter.register`).

extension AgentHello.Params: ValidatedParams {
    public static func isValidAgentID(_ id: String) -> Bool {
        ParamLimits.agentIdLength.contains(id.count)
            && id.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._@:-".unicodeScalars.contains($0)
            }
    }

    public func validate() throws {
        guard Self.isValidAgentID(self.agentId) else {
            throw RPCError(.validationFailed, "agentId must be \(ParamLimits.agentIdLength.wording) characters of [A-Za-z0-9._@:-]")
        }
        guard ParamLimits.agentCapacity.contains(self.capacity) else {
            throw RPCError(.validationFailed, "capacity must be \(ParamLimits.agentCapacity.wording)")
        }
        guard ParamLimits.heldLeases.contains(self.leases?.count ?? 0) else {
            throw RPCError(.validationFailed, "at most \(ParamLimits.heldLeases.upperBound) held leases")
        }
    }
}

extension LeaseJobs.Params: ValidatedParams {
    public func validate() throws {
        guard ParamLimits.leaseMax.contains(self.max) else {
            throw RPCError(.validationFailed, "max must be \(ParamLimits.leaseMax.wording)")
        }
    }
}

extension CompleteJob.Params: ValidatedParams {
    public func validate() throws {
        if let problem = self.call?.problem { throw RPCError(.validationFailed, problem) }
    }
}

extension FailJob.Params: ValidatedParams {
    public func validate() throws {
        guard ParamLimits.errorBytes.contains(self.error.utf8.count) else {
            throw RPCError(.validationFailed, "error must be \(ParamLimits.errorBytes.wording) bytes")
        }
        if self.notPlaced == true && (self.outcomeUnknown == true || self.call != nil) {
            throw RPCError(.validationFailed, "notPlaced says no call was placed: it goes without outcomeUnknown and call")
        }
        if let problem = self.call?.problem { throw RPCError(.validationFailed, problem) }
    }
}

extension SkipJob.Params: ValidatedParams {
    public func validate() throws {
        guard ParamLimits.reasonBytes.contains(self.reason.utf8.count) else {
            throw RPCError(.validationFailed, "reason must be \(ParamLimits.reasonBytes.wording) bytes")
        }
    }
}

extension ReportJobs.Params: ValidatedParams {
    /// The number of reports only: each report is checked on its own and refused on its own.
    public func validate() throws {
        guard (1...ReportJobs.maximumReports).contains(self.reports.count) else {
            throw RPCError(.validationFailed, "give 1…\(ReportJobs.maximumReports) reports")
        }
    }
}

extension JobReport {
    /// Checks the one report this holds (exactly one of complete, fail, skip, valid as its method's params).
    public func validate() throws {
        switch (self.complete, self.fail, self.skip) {
        case (let c?, nil, nil): try c.validate()
        case (nil, let f?, nil): try f.validate()
        case (nil, nil, let k?): try k.validate()
        default: throw RPCError(.validationFailed, "a report has exactly one of complete, fail, skip")
        }
    }
}

extension ListJobs.Params: ValidatedParams {
    public func validate() throws {
        if let c = self.cursor, Int64(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
        for (name, value) in [("updatedSince", self.updatedSince), ("updatedBefore", self.updatedBefore)] {
            if let value, Timestamp.parse(value) == nil {
                throw RPCError(.validationFailed, "\(name) must be an RFC 3339 timestamp with a timezone")
            }
        }
        if let r = self.reason, !ParamLimits.reasonBytes.contains(r.utf8.count) {
            throw RPCError(.validationFailed, "reason must be \(ParamLimits.reasonBytes.wording) bytes")
        }
    }
}

extension GetJob.Params: ValidatedParams {
    public func validate() throws {
        guard (self.id == nil) != (self.queueJobId == nil) else {
            throw RPCError(.invalidParams, "invalid params: give exactly one of id and queueJobId")
        }
    }
}

extension RetryJobs.Params: ValidatedParams {
    public func validate() throws {
        guard ParamLimits.attempts.contains(self.attempts ?? 1) else {
            throw RPCError(.validationFailed, "attempts must be \(ParamLimits.attempts.wording)")
        }
        try Self.validateIds(self.ids)
    }

    static func validateIds(_ ids: [Int64]) throws {
        guard ParamLimits.jobIdsPerCall.contains(ids.count) else {
            throw RPCError(.validationFailed, "give \(ParamLimits.jobIdsPerCall.wording) job ids")
        }
    }
}

extension CancelJobs.Params: ValidatedParams {
    public func validate() throws {
        try RetryJobs.Params.validateIds(self.ids)
    }
}

extension GetCustomer.Params: ValidatedParams {
    public func validate() throws {
        guard (self.id == nil) != (self.externalRef == nil) else {
            throw RPCError(.invalidParams, "invalid params: give exactly one of id and externalRef")
        }
    }
}

extension ListCustomers.Params: ValidatedParams {
    public func validate() throws {
        if let c = self.cursor, Int64(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
    }
}

/// The checks every campaign method shares.
enum CampaignChecks {
    static func name(_ name: String) throws {
        guard CampaignName.isValid(name) else {
            throw RPCError(.validationFailed, "campaign name must be 1…64 characters of [a-z0-9-]")
        }
    }

    static func fields(title: String?, startsAt: String?, endsAt: String?, priority: Int?) throws {
        if let title, !ParamLimits.campaignTitleBytes.contains(title.utf8.count) {
            throw RPCError(.validationFailed, "title must be \(ParamLimits.campaignTitleBytes.wording) bytes")
        }
        for (key, value) in [("startsAt", startsAt), ("endsAt", endsAt)] {
            if let value, Timestamp.parse(value) == nil {
                throw RPCError(.validationFailed, "\(key) must be an RFC 3339 time")
            }
        }
        if let priority, !ParamLimits.campaignPriority.contains(priority) {
            throw RPCError(.validationFailed, "priority must be \(ParamLimits.campaignPriority.wording)")
        }
    }
}

extension CreateCampaign.Params: ValidatedParams {
    public func validate() throws {
        try CampaignChecks.name(self.name)
        try CampaignChecks.fields(title: self.title, startsAt: self.startsAt, endsAt: self.endsAt, priority: self.priority)
    }
}

extension UpdateCampaign.Params: ValidatedParams {
    public func validate() throws {
        try CampaignChecks.name(self.name)
        try CampaignChecks.fields(
            title: self.title, startsAt: self.startsAt?.value, endsAt: self.endsAt?.value, priority: self.priority)
    }
}

extension CampaignRef: ValidatedParams {
    public func validate() throws { try CampaignChecks.name(self.name) }
}

extension CampaignMembersParams: ValidatedParams {
    public func validate() throws {
        try CampaignChecks.name(self.name)
        guard ParamLimits.membersPerCall.contains(self.customerRefs.count) else {
            throw RPCError(.validationFailed, "customerRefs: \(ParamLimits.membersPerCall.wording) per call")
        }
    }
}

extension ReconcileJobs.Params: ValidatedParams {
    public func validate() throws {
        guard (1...ReconcileJobs.maximumJobs).contains(self.max) else {
            throw RPCError(.validationFailed, "max must be 1…\(ReconcileJobs.maximumJobs)")
        }
        guard (1...32).contains(self.provider.utf8.count) else {
            throw RPCError(.validationFailed, "provider must be 1…32 bytes")
        }
    }
}

extension ReconcileJobsNow.Params: ValidatedParams {
    public func validate() throws {
        try RetryJobs.Params.validateIds(self.ids)
    }
}
