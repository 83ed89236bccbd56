// CampaignCoordinator — what the coordinator does with a request, and its periodic work.
//
// Owns: the method groups (Handlers/), the agent sessions and access rules (AgentSessions,
// AccessPolicy), the batchers that group agents' requests into one transaction, the long-poll
// signal, the settings cache, database health, and the maintenance duties (Maintenance/).
//
// May not: hold SQL (it calls CampaignStore), read flags or the environment (the executable does),
// or block a cooperative thread.
