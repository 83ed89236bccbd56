/// The five job states of the `campaign_job_status` enum (DESIGN §3). Exactly these five.
public enum JobStatus: String, Sendable, Codable, CaseIterable, Hashable {
    case queued = "QUEUED"
    case active = "ACTIVE"
    case completed = "COMPLETED"
    case failed = "FAILED"
    case skipped = "SKIPPED"

    /// Terminal states change only through an admin retry.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .skipped: return true
        case .queued, .active: return false
        }
    }
}

/// Where an ACTIVE job is: leased but not yet dialing, or with a call (possibly) under way.
public enum JobPhase: String, Sendable, Codable, CaseIterable, Hashable {
    case claimed = "CLAIMED"
    case dialing = "DIALING"
}

/// Status of a customer record (DESIGN §3).
public enum CustomerStatus: String, Sendable, Codable, CaseIterable, Hashable {
    case active = "ACTIVE"
    case optedOut = "OPTED_OUT"
    case doNotCall = "DO_NOT_CALL"
    case converted = "CONVERTED"
    case invalidNumber = "INVALID_NUMBER"
}

/// The outcome of one placed call (DESIGN §8).
public enum CallOutcome: String, Sendable, Codable, CaseIterable, Hashable {
    case answered = "ANSWERED"
    case noAnswer = "NO_ANSWER"
    case busy = "BUSY"
    case voicemail = "VOICEMAIL"
    case rejected = "REJECTED"
    case failed = "FAILED"
}
