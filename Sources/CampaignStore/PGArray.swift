/// Encodes Swift values as PostgreSQL array literals in text format, for `unnest($1::text[])`
/// style batch statements. Pure.
///
/// Works on UTF-8 bytes (issue 11's profile: appending unicode scalars one by one took 7 % of
/// the coordinator's CPU in a drain).
public enum PGArray {
    /// `{"a","b\"c",NULL}`: every element quoted, `\` and `"` escaped, nil as NULL.
    public static func encode(_ values: [String?]) -> String {
        var capacity = 2
        for v in values { capacity += (v?.utf8.count ?? 4) + 3 }
        return String(unsafeUninitializedCapacity: capacity * 2) { buffer in
            var n = 0
            func put(_ b: UInt8) {
                buffer[n] = b
                n += 1
            }
            put(UInt8(ascii: "{"))
            for (i, v) in values.enumerated() {
                if i > 0 { put(UInt8(ascii: ",")) }
                guard let v else {
                    for b in "NULL".utf8 { put(b) }
                    continue
                }
                put(UInt8(ascii: "\""))
                for b in v.utf8 {
                    if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { put(UInt8(ascii: "\\")) }
                    put(b)
                }
                put(UInt8(ascii: "\""))
            }
            put(UInt8(ascii: "}"))
            return n
        }
    }

    /// `{1,2,NULL}`: integers need neither quotes nor escapes.
    public static func encode<T: BinaryInteger>(_ values: [T?]) -> String {
        var out = "{"
        out.reserveCapacity(values.count * 8 + 2)
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(",") }
            if let v { out.append(String(v)) } else { out.append("NULL") }
        }
        out.append("}")
        return out
    }

    public static func encode<T: BinaryInteger>(_ values: [T]) -> String {
        var out = "{"
        out.reserveCapacity(values.count * 8 + 2)
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(",") }
            out.append(String(v))
        }
        out.append("}")
        return out
    }
}
