import CampaignProtocol
import CampaignRPC

/// The push event stream: `events.subscribe`, `events.unsubscribe`, `events.list` (the delivery is ``EventHub``'s).
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
        router.register(ListEvents.self) { p, _ in
            let campaign: Int64? = if let name = p.campaign { try await c.campaign(name).id } else { nil }
            return try await c.db {
                // Number what is committed first: a client sees the events of the changes it just made.
                try await c.events.pumpOnce()
                let bounds = try await c.store.eventBounds()
                let events = try await c.store.events(after: p.after ?? 0, campaignId: campaign, limit: p.limit ?? 100)
                return ListEvents.Result(events: events, head: bounds.last, oldest: bounds.oldest)
            }
        }
        router.register(UnsubscribeEvents.self) { p, ctx in
            UnsubscribeEvents.Result(unsubscribed: c.events.unsubscribe(p.subscription, connectionID: ctx.connectionID))
        }
    }
}
