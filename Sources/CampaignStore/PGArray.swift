/// Encodes Swift values as PostgreSQL array literals in text format, for `unnest($1::text[])`
/// style batch statements. Pure.
public enum PGArray {
    /// `{"a","b\"c",NULL}`: every element quoted, `\` and `"` escaped, nil as NULL.
    public static func encode(_ values: [String?]) -> String {
        var out = "{"
        out.reserveCapacity(values.count * 12 + 2)
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(",") }
            guard let v else {
                out.append("NULL")
                continue
            }
            out.append("\"")
            for ch in v.unicodeScalars {
                if ch == "\"" || ch == "\\" { out.append("\\") }
                out.unicodeScalars.append(ch)
            }
            out.append("\"")
        }
        out.append("}")
        return out
    }

    public static func encode<T: BinaryInteger>(_ values: [T?]) -> String {
        self.encode(values.map { $0.map { String($0) } })
    }

    public static func encode<T: BinaryInteger>(_ values: [T]) -> String {
        self.encode(values.map { String($0) })
    }
}
