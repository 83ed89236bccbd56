// CampaignRPC — the transport: line-delimited JSON-RPC 2.0 over a Unix socket, on SwiftNIO.
//
// Owns: line framing with a length limit, the request scanner (grammar, depth, ids), the router
// (dispatch, batches, notifications, the gate and params validation before any handler), the
// server and the client.
//
// May not: know what a method does, or touch the database; the coordinator registers handlers.
