import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Registers a method behind the caller's role check: every method checks it first (DESIGN §6).
struct GuardedRegistrar {
    let router: RPCRouter
    let coordinator: Coordinator

    func register<M: RPCMethod>(_ method: M.Type, _ body: @escaping @Sendable (M.Params, RPCContext) async throws -> M.Result) {
        let coordinator = self.coordinator
        self.router.register(method, authorize: { ctx in try coordinator.authorize(M.self, ctx) }, body)
    }
}

extension Coordinator {
    /// Builds the dispatch table: one group of methods per concern, each in its own file.
    public func makeRouter() -> RPCRouter {
        let router = RPCRouter(observer: self)
        let r = GuardedRegistrar(router: router, coordinator: self)
        self.registerStatusMethods(on: r)
        self.registerAgentMethods(on: r)
        self.registerJobMethods(on: r)
        self.registerCustomerMethods(on: r)
        self.registerAutomationMethods(on: r)
        return router
    }
}
