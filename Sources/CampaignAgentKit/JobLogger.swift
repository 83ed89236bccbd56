import Logging

/// A job's logger: `job.id` goes into the messages that are logged, instead of into a copy of the
/// logger made for every job (copying a `Logger`'s metadata per call was ≈ 4 % of a busy agent's
/// CPU). Message and metadata are evaluated only when the level is enabled, as with `Logger`.
struct JobLogger: Sendable {
    let base: Logger
    let jobId: Int64

    func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
        self.base.log(level: level, message(), metadata: { var m = metadata(); m["job.id"] = "\(self.jobId)"; return m }())
    }

    func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        self.log(.debug, message(), metadata())
    }
    func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        self.log(.info, message(), metadata())
    }
    func notice(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        self.log(.notice, message(), metadata())
    }
    func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        self.log(.warning, message(), metadata())
    }
    func error(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        self.log(.error, message(), metadata())
    }
}
