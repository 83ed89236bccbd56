// The build tool behind the EmbedOpenRPC plugin: writes `protocol/openrpc.json` as a Swift raw
// string (`OpenRPCDocument.text`). Fails, naming the file, when the text is not valid JSON or
// cannot be embedded as is.
//
//   openrpc-embed <openrpc.json> <output.swift>

import Foundation

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fail("usage: openrpc-embed <openrpc.json> <output.swift>") }
let (input, output) = (arguments[1], arguments[2])
guard let data = FileManager.default.contents(atPath: input) else { fail("cannot read \(input)") }
guard (try? JSONSerialization.jsonObject(with: data)) != nil else { fail("\(input) is not valid JSON") }
guard let text = String(data: data, encoding: .utf8) else { fail("\(input) is not UTF-8") }
// The text goes into a raw string ##"""…"""##: it must not hold the closing delimiter or an
// interpolation for that delimiter, and it must end with a newline.
if text.contains("\"\"\"##") || text.contains("\\##") {
    fail("\(input) contains \"\"\"## or \\## and cannot be embedded as is")
}
guard text.hasSuffix("\n") else { fail("\(input) must end with a newline") }

let swift = """
    // Generated at build time by the EmbedOpenRPC plugin from protocol/openrpc.json: not in Sources/.

    extension OpenRPCDocument {
        /// The exact text of `protocol/openrpc.json`.
        public static let text = ##\"\"\"
    \(text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n"))
        \"\"\"##
    }

    """
do {
    // Rewritten only when it changed, so an unchanged document compiles nothing again.
    if FileManager.default.contents(atPath: output) != Data(swift.utf8) {
        try swift.write(toFile: output, atomically: true, encoding: .utf8)
    }
} catch {
    fail("cannot write \(output): \(error)")
}
