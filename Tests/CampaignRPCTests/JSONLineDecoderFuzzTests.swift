import CampaignCore
import CampaignRPC
import Foundation
import NIOCore
import NIOEmbedded
import Testing

/// Random streams of lines, cut into random chunks, against a model of what the framing must
/// yield. Seeded: set FUZZ_SEED to replay; the seed is in every failure message.
@Suite("JSONLineDecoder, randomized")
struct JSONLineDecoderFuzzTests {
    /// What the decoder must yield for one line (`bytes` without its `\n`).
    static func expected(_ bytes: [UInt8], limit: Int) -> LineFrame {
        let hasCR = bytes.last == UInt8(ascii: "\r")
        if bytes.count - (hasCR ? 1 : 0) > limit { return .tooLong(byteCount: bytes.count) }
        return .line(ByteBuffer(bytes: hasCR ? Array(bytes.dropLast()) : bytes))
    }

    static func randomLine(_ rng: inout SplitMix64, limit: Int) -> [UInt8] {
        let lengths = [0, 1, 2, limit - 1, limit, limit + 1, limit + 2, 2 * limit, 5 * limit + 3, Int(rng.next() % 40)]
        let length = max(0, lengths[Int(rng.next() % UInt64(lengths.count))])
        var line = (0..<length).map { _ -> UInt8 in
            switch rng.next() % 8 {
            case 0: return UInt8(ascii: "\r")
            case 1: return UInt8(truncatingIfNeeded: rng.next()) | 0x80
            default: return UInt8(ascii: "a") + UInt8(rng.next() % 26)
            }
        }
        if !line.isEmpty && rng.next() % 3 == 0 { line[line.count - 1] = UInt8(ascii: "\r") }
        return line
    }

    static func chunks(_ stream: [UInt8], _ rng: inout SplitMix64, maxChunk: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < stream.count {
            let n = 1 + Int(rng.next() % UInt64(maxChunk))
            out.append(Array(stream[i..<min(stream.count, i + n)]))
            i += n
        }
        return out
    }

    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    }

    @Test("random lines in random chunks: the frames the model says, and never more than limit+1 bytes held")
    func randomChunking() {
        let seed = Self.seed
        var rng = SplitMix64(seed: seed)
        var cases = 0
        for _ in 0..<2000 {
            let limit = [1, 2, 16, 64, 1000][Int(rng.next() % 5)]
            let lines = (0..<(1 + rng.next() % 12)).map { _ in Self.randomLine(&rng, limit: limit) }
            let stream = lines.flatMap { $0 + [UInt8(ascii: "\n")] }
            var decoder = JSONLineDecoder(maximumLineLength: limit)
            var buffer = ByteBuffer()
            var frames: [LineFrame] = []
            for chunk in Self.chunks(stream, &rng, maxChunk: [1, 7, 100, 5000][Int(rng.next() % 4)]) {
                buffer.writeBytes(chunk)
                while let f = decoder.nextFrame(&buffer) { frames.append(f) }
                // What is held is an incomplete line of at most limit+1 bytes (one for a `\r`).
                #expect(buffer.readableBytes <= limit + 1, "seed \(seed): held \(buffer.readableBytes) bytes, limit \(limit)")
            }
            let model = lines.map { Self.expected($0, limit: limit) }
            #expect(frames == model, "seed \(seed), limit \(limit), lines \(lines.map(\.count))")
            cases += 1
        }
        #expect(cases == 2000)
    }

    @Test("through a channel, with a last line cut off by EOF")
    func randomChunkingWithEOF() throws {
        let seed = Self.seed
        var rng = SplitMix64(seed: seed)
        for _ in 0..<1000 {
            let limit = [1, 2, 16, 64][Int(rng.next() % 4)]
            let lines = (0..<(1 + rng.next() % 8)).map { _ in Self.randomLine(&rng, limit: limit) }
            // The last line has no `\n`: EOF ends it.
            var stream = lines.flatMap { $0 + [UInt8(ascii: "\n")] }
            stream.removeLast()
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(JSONLineDecoder(maximumLineLength: limit)))
            var frames: [LineFrame] = []
            for chunk in Self.chunks(stream, &rng, maxChunk: [1, 5, 300][Int(rng.next() % 3)]) {
                try channel.writeInbound(ByteBuffer(bytes: chunk))
                while let f = try channel.readInbound(as: LineFrame.self) { frames.append(f) }
            }
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            while let f = try channel.readInbound(as: LineFrame.self) { frames.append(f) }
            _ = try channel.finish(acceptAlreadyClosed: true)
            var model = lines.map { Self.expected($0, limit: limit) }
            if lines.last!.isEmpty { model.removeLast() }  // nothing after the last `\n`: no frame
            #expect(frames == model, "seed \(seed), limit \(limit), lines \(lines.map(\.count)): \(frames)")
        }
    }
}
