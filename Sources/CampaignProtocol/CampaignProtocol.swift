// CampaignProtocol — the wire, shared by the coordinator, the agent and campaign-ctl.
//
// Owns: one type per JSON-RPC method (Methods+*.swift) with its params, result and limits
// (ParamLimits, validate()), the envelope and error codes, JSON values and their fast coding, and
// protocol/openrpc.json built in at build time (OpenRPCDocument, by the EmbedOpenRPC plugin).
//
// May not: know about PostgreSQL, sockets or processes. A change here is a protocol change:
// protocol/openrpc.json, these types and the conformance tests change in the same commit.
