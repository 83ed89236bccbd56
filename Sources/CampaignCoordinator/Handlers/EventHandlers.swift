import CampaignProtocol
import CampaignRPC

/// The push event stream: `events.subscribe`, `events.unsubscribe` (the delivery is ``EventHub``'s).
struct EventHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(SubscribeEvents.self) { p, ctx in
            guard let push = ctx.push else {
                throw RPCError(.invalidState, "this connection cannot take notifications")
            }
            let campaign: Int64? = if let name = p.campaign { try await c.campaign(name).id } else { nil }
            return try await c.db { try await c.events.subscribe(after: p.after, campaignId: campaign, push: push, context: ctx) }
        }
        router.register(UnsubscribeEvents.self) { p, ctx in
            UnsubscribeEvents.Result(unsubscribed: c.events.unsubscribe(p.subscription, connectionID: ctx.connectionID))
        }
    }
}
