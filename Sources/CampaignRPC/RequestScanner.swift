/// One pass over a request line before any JSON decoder sees it.
///
/// - Checks the JSON grammar (RFC 8259) and UTF-8, so a parse error can say what is wrong.
/// - Bounds the nesting depth. Foundation's parser allows 512 levels and traps (crashes the
///   process) on a line of exactly 513 `[`; nothing deeper than ``RPCRouter/maximumDepth`` reaches it.
/// - Finds the raw bytes of each request's `id` (of the top-level object, or of each object of a
///   top-level array), so the answer echoes the id byte for byte: `1.0`, `1e400` or
///   `123456789012345678901234567890` come back as sent, not as a Double's rendering.
///
/// Iterative, no recursion: its own stack is the depth limit.
struct RequestScanner {
    enum Failure: Error, Equatable {
        /// Not JSON; the offset of the first byte that is wrong (or the line length if it ended early).
        case syntax(offset: Int)
        /// Bytes inside a string that are not UTF-8.
        case invalidUTF8(offset: Int)
        /// Arrays and objects nested deeper than the limit.
        case tooDeep(limit: Int)
    }

    /// The `id` member of a request object.
    enum ID: Equatable {
        /// No `id` member: a notification.
        case absent
        /// A string, number or null: echoed as these bytes.
        case valid([UInt8])
        /// An object, array or boolean: not a valid id.
        case invalid
    }

    /// What the line holds at the top.
    enum Shape: Equatable {
        case object(ID)
        /// A batch: one entry per member, `nil` for a member that is not an object.
        case array([ID?])
        /// A string, number, boolean or null.
        case scalar
    }

    struct Result: Equatable {
        var shape: Shape
        /// Where the number ids are, to hide them from a decoder that cannot hold them.
        var numberIDSpans: [Range<Int>]
    }

    static func scan(_ line: [UInt8], maximumDepth: Int) -> Swift.Result<Result, Failure> {
        line.withUnsafeBufferPointer { Self.scan($0, maximumDepth: maximumDepth) }
    }

    private enum Expect { case value, valueOrClose, key, keyOrClose, colon, commaOrClose, end }

    static func scan(_ b: UnsafeBufferPointer<UInt8>, maximumDepth: Int) -> Swift.Result<Result, Failure> {
        let n = b.count
        var i = 0
        /// The open containers: `true` for an object, `false` for an array.
        var stack: [Bool] = []
        stack.reserveCapacity(min(maximumDepth, 64))
        var expect = Expect.value
        var topID = ID.absent
        var members: [ID?] = []
        var numberIDSpans: [Range<Int>] = []
        /// Whether the innermost open container is a request object: the top-level object, or an
        /// object directly inside a top-level array.
        var inRequestObject: Bool {
            (stack.count == 1 && stack[0]) || (stack.count == 2 && !stack[0] && stack[1])
        }
        /// The request object already had an `id` key (the first one counts, as in Foundation).
        var idSeen = false
        /// The key `"id"` of a request object was read; its value comes next.
        var idPending = false
        /// Where the id's value starts, and the depth of its request object.
        var idStart: (offset: Int, depth: Int)?

        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

        /// Records the id value `b[start..<end]` of the request object at `depth`.
        func finishID(_ start: Int, _ end: Int, depth: Int) {
            let id: ID
            switch b[start] {
            case UInt8(ascii: "\""), UInt8(ascii: "n"): id = .valid(Array(b[start..<end]))
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                id = .valid(Array(b[start..<end]))
                numberIDSpans.append(start..<end)
            default: id = .invalid
            }
            if depth == 1 {
                topID = id
            } else {
                members[members.count - 1] = id
            }
        }

        while true {
            while i < n && isSpace(b[i]) { i += 1 }
            if i == n {
                guard expect == .end else { return .failure(.syntax(offset: n)) }
                break
            }
            let c = b[i]
            switch expect {
            case .end:
                return .failure(.syntax(offset: i))
            case .colon:
                guard c == UInt8(ascii: ":") else { return .failure(.syntax(offset: i)) }
                i += 1
                expect = .value
                continue
            case .commaOrClose:
                if c == UInt8(ascii: ",") {
                    i += 1
                    expect = stack.last! ? .key : .value
                    continue
                }
                guard c == (stack.last! ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                    return .failure(.syntax(offset: i))
                }
            // falls through to the closing of a container, below
            case .key, .keyOrClose:
                if c == UInt8(ascii: "}") && expect == .keyOrClose { break }
                guard c == UInt8(ascii: "\"") else { return .failure(.syntax(offset: i)) }
                let start = i
                switch Self.string(b, &i) {
                case .failure(let f): return .failure(f)
                case .success(let escaped):
                    if inRequestObject && !idSeen && Self.isIDKey(b, start, i, escaped: escaped) {
                        idSeen = true
                        idPending = true
                    }
                }
                expect = .colon
                continue
            case .value, .valueOrClose:
                if c == UInt8(ascii: "]") && expect == .valueOrClose { break }
                if stack.count == 1 && !stack[0] { members.append(nil) }  // a batch member starts
                if idPending {
                    idPending = false
                    idStart = (i, stack.count)
                }
                let start = i
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard stack.count < maximumDepth else { return .failure(.tooDeep(limit: maximumDepth)) }
                    let isObject = c == UInt8(ascii: "{")
                    stack.append(isObject)
                    if isObject && inRequestObject {
                        idSeen = false
                        if stack.count == 2 { members[members.count - 1] = .absent }
                    }
                    i += 1
                    expect = isObject ? .keyOrClose : .valueOrClose
                    continue
                case UInt8(ascii: "\""):
                    if case .failure(let f) = Self.string(b, &i) { return .failure(f) }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard Self.number(b, &i) else { return .failure(.syntax(offset: min(i, n))) }
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    let word: [UInt8] = c == UInt8(ascii: "t") ? [116, 114, 117, 101] : c == UInt8(ascii: "f") ? [102, 97, 108, 115, 101] : [110, 117, 108, 108]
                    for k in 0..<word.count where i + k >= n || b[i + k] != word[k] {
                        return .failure(.syntax(offset: min(i + k, n)))
                    }
                    i += word.count
                default:
                    return .failure(.syntax(offset: i))
                }
                // A scalar ended at `i`.
                if let s = idStart, s.offset == start {
                    finishID(start, i, depth: s.depth)
                    idStart = nil
                }
                expect = stack.isEmpty ? .end : .commaOrClose
                continue
            }
            // The innermost container closes at `i`.
            stack.removeLast()
            i += 1
            if let s = idStart, stack.count == s.depth {
                finishID(s.offset, i, depth: s.depth)  // the id was an object or an array: invalid
                idStart = nil
            }
            expect = stack.isEmpty ? .end : .commaOrClose
        }
        let shape: Shape
        switch b[b.firstIndex { !isSpace($0) }!] {
        case UInt8(ascii: "{"): shape = .object(topID)
        case UInt8(ascii: "["): shape = .array(members)
        default: shape = .scalar
        }
        return .success(Result(shape: shape, numberIDSpans: numberIDSpans))
    }

    /// Scans a string from its opening quote; `i` ends after the closing quote. Returns whether it
    /// holds escapes.
    private static func string(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Swift.Result<Bool, Failure> {
        let n = b.count
        var escaped = false
        i += 1
        while i < n {
            let c = b[i]
            switch c {
            case UInt8(ascii: "\""):
                i += 1
                return .success(escaped)
            case UInt8(ascii: "\\"):
                escaped = true
                guard i + 1 < n else { return .failure(.syntax(offset: n)) }
                switch b[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 5 < n else { return .failure(.syntax(offset: n)) }
                    for k in 2...5 where !Self.isHex(b[i + k]) { return .failure(.syntax(offset: i + k)) }
                    i += 6
                default:
                    return .failure(.syntax(offset: i + 1))
                }
            case 0..<0x20:
                return .failure(.syntax(offset: i))
            case 0x20..<0x80:
                i += 1
            default:
                guard let len = Self.utf8Sequence(b, i) else { return .failure(.invalidUTF8(offset: i)) }
                i += len
            }
        }
        return .failure(.syntax(offset: n))
    }

    /// The length of the well-formed UTF-8 sequence at `i` (lead byte ≥ 0x80), or nil.
    private static func utf8Sequence(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int? {
        let c = b[i]
        let len: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: len = 2
        case 0xE0: (len, lo) = (3, 0xA0)
        case 0xE1...0xEC, 0xEE...0xEF: len = 3
        case 0xED: (len, hi) = (3, 0x9F)  // no UTF-16 surrogates
        case 0xF0: (len, lo) = (4, 0x90)
        case 0xF1...0xF3: len = 4
        case 0xF4: (len, hi) = (4, 0x8F)  // nothing above U+10FFFF
        default: return nil
        }
        guard i + len <= b.count else { return nil }
        guard (lo...hi).contains(b[i + 1]) else { return nil }
        for k in 2..<len where !(0x80...0xBF).contains(b[i + k]) { return nil }
        return len
    }

    private static func isHex(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(c)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; `i` ends after it.
    private static func number(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Bool {
        let n = b.count
        func isDigit(_ k: Int) -> Bool { k < n && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[k]) }
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { return false }
        if b[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < n && b[i] == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
        }
        if i < n && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
        }
        return true
    }

    /// Whether the key string `b[start..<end]` (quotes included) is `"id"`, escapes resolved.
    private static func isIDKey(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, escaped: Bool) -> Bool {
        if !escaped {
            return end - start == 4 && b[start + 1] == UInt8(ascii: "i") && b[start + 2] == UInt8(ascii: "d")
        }
        // Rare: `"\u0069d"` and the like. Resolve the escapes of a short key by hand.
        guard end - start <= 16 else { return false }
        var out: [UInt8] = []
        var k = start + 1
        while k < end - 1 {
            if b[k] == UInt8(ascii: "\\") {
                if b[k + 1] == UInt8(ascii: "u") {
                    var v: UInt32 = 0
                    for h in 2...5 {
                        let d = b[k + h]
                        v = v * 16 + UInt32(d <= UInt8(ascii: "9") ? d - UInt8(ascii: "0") : (d | 0x20) - UInt8(ascii: "a") + 10)
                    }
                    guard v < 0x80 else { return false }
                    out.append(UInt8(v))
                    k += 6
                } else {
                    let e = b[k + 1]
                    out.append(e == UInt8(ascii: "/") || e == UInt8(ascii: "\\") || e == UInt8(ascii: "\"") ? e : 0)
                    k += 2
                }
            } else {
                out.append(b[k])
                k += 1
            }
        }
        return out == [UInt8(ascii: "i"), UInt8(ascii: "d")]
    }
}

extension RequestScanner.ID {
    /// The bytes to echo: nil for a notification (and for an invalid id, answered with null).
    var raw: [UInt8]? {
        if case .valid(let bytes) = self { return bytes }
        return nil
    }
}
