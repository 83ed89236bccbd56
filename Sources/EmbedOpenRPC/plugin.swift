import Foundation
import PackagePlugin

/// Builds `protocol/openrpc.json` into the CampaignProtocol module at build time, so the
/// installed binaries serve `rpc.discover` without data files and no generated Swift file lives
/// in `Sources/`. The command reruns whenever the JSON file changes.
@main
struct EmbedOpenRPC: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "protocol").appending(path: "openrpc.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "OpenRPCDocument+Text.swift")
        return [
            .buildCommand(
                displayName: "Embedding protocol/openrpc.json",
                executable: try context.tool(named: "openrpc-embed").url,
                arguments: [input.path, output.path],
                inputFiles: [input],
                outputFiles: [output])
        ]
    }
}
