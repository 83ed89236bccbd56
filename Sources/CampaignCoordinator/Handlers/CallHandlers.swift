import CampaignProtocol
import CampaignRPC

/// Call logs on their own: `calls.list`.
struct CallHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(ListCalls.self) { p, _ in
            let campaign: Int64? = if let name = p.campaign { try await c.campaign(name).id } else { nil }
            return try await c.db { try await c.store.listCalls(p, campaignId: campaign) }
        }
    }
}
