/// The OpenRPC document of the protocol, served by `rpc.discover`.
///
/// `text` is the exact text of `protocol/openrpc.json`, put in at build time by the EmbedOpenRPC
/// plugin (`Sources/EmbedOpenRPC`, tool `Sources/openrpc-embed`), so the installed binaries need
/// no data files and the JSON file is the only copy in the repository.
public enum OpenRPCDocument {}
