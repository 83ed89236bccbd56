import CampaignRPC
import NIOCore
import NIOEmbedded
import Testing

private func line(_ s: String) -> LineFrame { .line(ByteBuffer(string: s)) }

/// Runs the decoder over whatever `buffer` holds now, collecting every frame it yields.
private func drain(_ decoder: inout JSONLineDecoder, _ buffer: inout ByteBuffer) -> [LineFrame] {
    var frames: [LineFrame] = []
    while let f = decoder.nextFrame(&buffer) { frames.append(f) }
    return frames
}

private func decodeAll(_ input: String, limit: Int = 64) -> [LineFrame] {
    var d = JSONLineDecoder(maximumLineLength: limit)
    var b = ByteBuffer(string: input)
    return drain(&d, &b)
}

@Suite("JSONLineDecoder.nextFrame")
struct JSONLineDecoderFramingTests {
    @Test func singleLine() {
        var d = JSONLineDecoder(maximumLineLength: 64)
        var b = ByteBuffer(string: #"{"jsonrpc":"2.0","method":"health","id":1}"# + "\n")
        #expect(d.nextFrame(&b) == line(#"{"jsonrpc":"2.0","method":"health","id":1}"#))
        #expect(b.readableBytes == 0)
        #expect(d.nextFrame(&b) == nil)
    }

    @Test func severalLinesInOneBuffer() {
        #expect(decodeAll("a\nbb\n{\"x\":1}\n") == [line("a"), line("bb"), line(#"{"x":1}"#)])
    }

    @Test("an unterminated tail waits for its newline")
    func partialTail() {
        var d = JSONLineDecoder(maximumLineLength: 64)
        var b = ByteBuffer(string: "one\ntw")
        #expect(drain(&d, &b) == [line("one")])
        #expect(b.readableBytes == 2)
        b.writeString("o\nthree")
        #expect(drain(&d, &b) == [line("two")])
        b.writeString("\n")
        #expect(drain(&d, &b) == [line("three")])
    }

    @Test("a line drip-fed one byte at a time")
    func dripFed() {
        let text = #"{"jsonrpc":"2.0","method":"jobs.lease","params":{"max":1},"id":"a"}"# + "\n" + "[1]\n"
        var d = JSONLineDecoder(maximumLineLength: 80)
        var b = ByteBuffer()
        var frames: [LineFrame] = []
        for byte in text.utf8 {
            b.writeInteger(byte)
            frames += drain(&d, &b)
        }
        #expect(frames == [line(#"{"jsonrpc":"2.0","method":"jobs.lease","params":{"max":1},"id":"a"}"#), line("[1]")])
        #expect(b.readableBytes == 0)
    }

    @Test("CRLF line ends lose their \\r, a lone \\r inside a line stays")
    func crlf() {
        #expect(decodeAll("a\r\nb\r\n\r\nc\rd\n") == [line("a"), line("b"), line(""), line("c\rd")])
    }

    @Test("an empty line is an empty frame")
    func emptyLine() {
        #expect(decodeAll("\n\nx\n") == [line(""), line(""), line("x")])
    }

    @Test("a line of exactly the limit passes, whole or drip-fed")
    func exactlyAtLimit() {
        let text = String(repeating: "x", count: 16)
        #expect(decodeAll(text + "\n", limit: 16) == [line(text)])
        var d = JSONLineDecoder(maximumLineLength: 16)
        var b = ByteBuffer()
        var frames: [LineFrame] = []
        for byte in (text + "\nok\n").utf8 {
            b.writeInteger(byte)
            frames += drain(&d, &b)
        }
        #expect(frames == [line(text), line("ok")])
    }

    @Test("one byte over the limit is reported once, and the next line still decodes")
    func oneByteOver() {
        let text = String(repeating: "x", count: 17)
        #expect(decodeAll(text + "\nok\n", limit: 16) == [.tooLong(byteCount: 17), line("ok")])
        // Drip-fed: the line is known to be too long before its newline arrives.
        var d = JSONLineDecoder(maximumLineLength: 16)
        var b = ByteBuffer()
        var frames: [LineFrame] = []
        for byte in (text + "\nok\n").utf8 {
            b.writeInteger(byte)
            frames += drain(&d, &b)
        }
        #expect(frames == [.tooLong(byteCount: 17), line("ok")])
    }

    @Test("an oversized line in many chunks is discarded as it comes: memory stays bounded")
    func oversizedChunks() {
        let limit = 64
        let chunk = 10
        var d = JSONLineDecoder(maximumLineLength: limit)
        var b = ByteBuffer(string: "first\n")
        #expect(drain(&d, &b) == [line("first")])
        var sent = 0
        for _ in 0..<1000 {
            b.writeString(String(repeating: "y", count: chunk))
            sent += chunk
            #expect(drain(&d, &b) == [])
            #expect(b.readableBytes <= limit + chunk, "buffered \(b.readableBytes) bytes")
        }
        b.writeString("yy\nnext\n")
        #expect(drain(&d, &b) == [.tooLong(byteCount: sent + 2), line("next")])
        #expect(b.readableBytes == 0)
    }

    @Test("an oversized line and the next lines in one buffer")
    func oversizedThenMore() {
        let big = String(repeating: "z", count: 100)
        #expect(decodeAll("a\n" + big + "\nb\n" + big + "\n\nc\n", limit: 32) == [
            line("a"), .tooLong(byteCount: 100), line("b"), .tooLong(byteCount: 100), line(""), line("c"),
        ])
    }

    @Test("multi-byte UTF-8 split across chunks is kept intact")
    func utf8Split() {
        let text = "{\"name\":\"Zoë ✓\"}\n"
        var d = JSONLineDecoder(maximumLineLength: 64)
        var b = ByteBuffer()
        var frames: [LineFrame] = []
        let bytes = Array(text.utf8)
        for i in stride(from: 0, to: bytes.count, by: 3) {
            b.writeBytes(bytes[i..<min(i + 3, bytes.count)])
            frames += drain(&d, &b)
        }
        #expect(frames == [line("{\"name\":\"Zoë ✓\"}")])
    }
}

@Suite("JSONLineDecoder in a channel")
struct JSONLineDecoderChannelTests {
    private func makeChannel(limit: Int) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(JSONLineDecoder(maximumLineLength: limit)))
        return channel
    }

    private func readAll(_ channel: EmbeddedChannel) throws -> [LineFrame] {
        var frames: [LineFrame] = []
        while let f = try channel.readInbound(as: LineFrame.self) { frames.append(f) }
        return frames
    }

    @Test("frames across writes, an oversized line, and a last unterminated line at EOF")
    func channelLevel() throws {
        let channel = try makeChannel(limit: 16)
        try channel.writeInbound(ByteBuffer(string: "alpha\nbe"))
        #expect(try readAll(channel) == [line("alpha")])
        try channel.writeInbound(ByteBuffer(string: "ta\r\n" + String(repeating: "x", count: 20)))
        #expect(try readAll(channel) == [line("beta")])
        try channel.writeInbound(ByteBuffer(string: String(repeating: "x", count: 20) + "\ngamma\nlast"))
        #expect(try readAll(channel) == [.tooLong(byteCount: 40), line("gamma")])
        // EOF: the last line has no newline but is still a message.
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try readAll(channel) == [line("last")])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("closing the channel flushes the last unterminated line")
    func closeFlushesLastLine() throws {
        let channel = try makeChannel(limit: 16)
        try channel.writeInbound(ByteBuffer(string: "a\nb\r"))
        #expect(try readAll(channel) == [line("a")])
        try channel.close().wait()
        #expect(try readAll(channel) == [line("b")])
    }

    @Test("EOF with nothing pending yields nothing")
    func cleanEOF() throws {
        let channel = try makeChannel(limit: 16)
        try channel.writeInbound(ByteBuffer(string: "a\n"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try readAll(channel) == [line("a")])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("drip-fed through the channel, byte by byte")
    func dripFedChannel() throws {
        let channel = try makeChannel(limit: 32)
        let text = "{\"id\":1}\n" + String(repeating: "q", count: 40) + "\n{\"id\":2}\n"
        var frames: [LineFrame] = []
        for byte in text.utf8 {
            var b = channel.allocator.buffer(capacity: 1)
            b.writeInteger(byte)
            try channel.writeInbound(b)
            frames += try readAll(channel)
        }
        #expect(frames == [line("{\"id\":1}"), .tooLong(byteCount: 40), line("{\"id\":2}")])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// The doc comment promises an oversized line is "reported once as tooLong". An oversized line
    /// cut off by EOF (no newline ever comes) is dropped without any frame, so the server never
    /// answers it, while a normal unterminated last line is answered.
    @Test("an oversized last line at EOF is still reported")
    func oversizedAtEOF() throws {
        let channel = try makeChannel(limit: 16)
        try channel.writeInbound(ByteBuffer(string: "ok\n" + String(repeating: "x", count: 40)))
        #expect(try readAll(channel) == [line("ok")])
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try readAll(channel) == [.tooLong(byteCount: 40)])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
