import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// The test-support JSON Schema validator: each keyword accepts what it should and rejects what
/// it should, with the path of the offending value. (Pure: no database needed.)
@Suite("JSON Schema validator")
struct JSONSchemaValidatorTests {
    static func json(_ text: String) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string("<not json: \(text)>")
    }

    /// Violations of `instance` against `schema` (both JSON text), with `root` for `$ref`s.
    static func violations(_ instance: String, _ schema: String, root: String = "{}") -> [String] {
        JSONSchemaValidator(root: json(root)).validate(json(instance), against: json(schema))
    }

    static func accepts(_ instance: String, _ schema: String, root: String = "{}") -> Bool {
        self.violations(instance, schema, root: root).isEmpty
    }

    @Test func type() {
        #expect(Self.accepts(#""a""#, #"{"type":"string"}"#))
        #expect(Self.accepts("1", #"{"type":"integer"}"#))
        #expect(Self.accepts("1.0", #"{"type":"integer"}"#))  // an integral number is an integer
        #expect(Self.accepts("1.5", #"{"type":"number"}"#))
        #expect(Self.accepts("3", #"{"type":"number"}"#))
        #expect(Self.accepts("true", #"{"type":"boolean"}"#))
        #expect(Self.accepts("null", #"{"type":"null"}"#))
        #expect(Self.accepts("[]", #"{"type":"array"}"#))
        #expect(Self.accepts("{}", #"{"type":"object"}"#))
        #expect(Self.accepts("null", #"{"type":["string","null"]}"#))
        #expect(Self.accepts(#""x""#, #"{"type":["string","null"]}"#))

        #expect(!Self.accepts("1.5", #"{"type":"integer"}"#))
        #expect(!Self.accepts(#""1""#, #"{"type":"integer"}"#))
        #expect(!Self.accepts("null", #"{"type":"string"}"#))
        #expect(!Self.accepts("0", #"{"type":"boolean"}"#))
        #expect(!Self.accepts("{}", #"{"type":"array"}"#))
        #expect(!Self.accepts("[]", #"{"type":"object"}"#))
        #expect(!Self.accepts("7", #"{"type":["string","null"]}"#))
        #expect(Self.violations("7", #"{"type":["string","null"]}"#) == ["$: expected one of string, null, found integer 7"])
    }

    @Test func booleanSchemas() {
        #expect(Self.accepts("1", "true"))
        #expect(Self.accepts("1", "{}"))
        #expect(!Self.accepts("1", "false"))
    }

    @Test func propertiesAndRequired() {
        let schema = #"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]}"#
        #expect(Self.accepts(#"{"a":1}"#, schema))
        #expect(Self.accepts(#"{"a":1,"b":"x","c":null}"#, schema))  // extra members allowed by default
        #expect(Self.violations(#"{"b":"x"}"#, schema) == [#"$: required member "a" is missing"#])
        #expect(Self.violations(#"{"a":"one"}"#, schema) == [#"$.a: expected integer, found string "one""#])
        // `required` and `properties` say nothing about non-objects.
        #expect(Self.accepts("5", #"{"required":["a"],"properties":{"a":{"type":"string"}}}"#))
    }

    @Test func additionalProperties() {
        let closed = #"{"type":"object","properties":{"a":{}},"additionalProperties":false}"#
        #expect(Self.accepts(#"{"a":1}"#, closed))
        #expect(Self.violations(#"{"a":1,"zz":2}"#, closed) == [#"$: member "zz" is not allowed"#])
        let typed = #"{"type":"object","additionalProperties":{"type":"integer"}}"#
        #expect(Self.accepts(#"{"x":1,"y":2}"#, typed))
        #expect(Self.violations(#"{"x":1,"a b":"2"}"#, typed) == [#"$["a b"]: expected integer, found string "2""#])
    }

    @Test func items() {
        let schema = #"{"type":"array","items":{"type":"integer","minimum":0}}"#
        #expect(Self.accepts("[0,1,2]", schema))
        #expect(Self.accepts("[]", schema))
        #expect(Self.violations("[0,-1,2,\"x\"]", schema) == [
            "$[1]: -1 is below the minimum 0", #"$[3]: expected integer, found string "x""#,
        ])
        #expect(Self.accepts("[1]", #"{"minItems":1,"maxItems":2}"#))
        #expect(!Self.accepts("[]", #"{"minItems":1}"#))
        #expect(!Self.accepts("[1,2,3]", #"{"maxItems":2}"#))
    }

    @Test func nestedPaths() {
        let schema = #"{"properties":{"jobs":{"items":{"properties":{"status":{"enum":["QUEUED"]}}}}}}"#
        #expect(Self.violations(#"{"jobs":[{"status":"QUEUED"},{"status":"LOST"}]}"#, schema) == [
            #"$.jobs[1].status: "LOST" is not one of ["QUEUED"]"#,
        ])
    }

    @Test func enumAndConst() {
        #expect(Self.accepts(#""a""#, #"{"enum":["a","b"]}"#))
        #expect(Self.accepts("null", #"{"enum":["a",null]}"#))
        #expect(Self.accepts("1.0", #"{"enum":[1,2]}"#))  // numbers compare by value
        #expect(!Self.accepts(#""c""#, #"{"enum":["a","b"]}"#))
        #expect(!Self.accepts("1", #"{"enum":["1"]}"#))
        #expect(Self.accepts(#"{"b":[1,2],"a":null}"#, #"{"const":{"a":null,"b":[1,2]}}"#))
        #expect(!Self.accepts(#"{"a":null,"b":[2,1]}"#, #"{"const":{"a":null,"b":[1,2]}}"#))
        #expect(!Self.accepts(#"{"a":null}"#, #"{"const":{"a":null,"b":[1,2]}}"#))
        #expect(Self.violations("false", #"{"const":true}"#) == ["$: false is not the constant true"])
    }

    @Test func minimumAndMaximum() {
        let schema = #"{"minimum":1,"maximum":10.5}"#
        #expect(Self.accepts("1", schema))
        #expect(Self.accepts("10.5", schema))
        #expect(Self.accepts(#""not a number""#, schema))  // applies to numbers only
        #expect(Self.violations("0.5", schema) == ["$: 0.5 is below the minimum 1"])
        #expect(Self.violations("11", schema) == ["$: 11 is above the maximum 10.5"])
    }

    @Test func stringLengths() {
        let schema = #"{"minLength":2,"maxLength":3}"#
        #expect(Self.accepts(#""ab""#, schema))
        #expect(Self.accepts(#""ééé""#, schema))  // characters, not bytes
        #expect(Self.accepts("1", schema))  // applies to strings only
        #expect(!Self.accepts(#""a""#, schema))
        #expect(!Self.accepts(#""abcd""#, schema))
    }

    @Test func pattern() {
        let schema = #"{"pattern":"^[0-9]{4}-[0-9]{2}$"}"#
        #expect(Self.accepts(#""2026-11""#, schema))
        #expect(!Self.accepts(#""2026-1""#, schema))
        #expect(Self.accepts(#""xx42yy""#, #"{"pattern":"[0-9]+"}"#))  // unanchored: a match anywhere
        #expect(Self.violations(#""a""#, #"{"pattern":"(unclosed"}"#) == ["$: the pattern (unclosed does not compile"])
    }

    @Test func oneOf() {
        let schema = #"{"oneOf":[{"type":"integer"},{"type":"number","minimum":5}]}"#
        #expect(Self.accepts("3", schema))  // only the first
        #expect(Self.accepts("5.5", schema))  // only the second
        #expect(Self.violations("7", schema) == ["$: matches 2 of the oneOf schemas, exactly one must match"])
        let none = Self.violations(#""x""#, schema)
        #expect(none.count == 1 && none[0].hasPrefix("$: matches none of the oneOf schemas"))
    }

    @Test func anyOf() {
        let schema = #"{"anyOf":[{"type":"integer"},{"type":"number","minimum":5}]}"#
        #expect(Self.accepts("3", schema))
        #expect(Self.accepts("7", schema))
        #expect(!Self.accepts("4.5", schema))
        #expect(!Self.accepts("null", schema))
    }

    @Test func allOf() {
        let schema = #"{"allOf":[{"type":"integer"},{"minimum":5}]}"#
        #expect(Self.accepts("5", schema))
        #expect(Self.violations("4", schema) == ["$: 4 is below the minimum 5"])
        #expect(!Self.accepts("5.5", schema))
    }

    @Test func refs() {
        let root = ##"""
            {"components":{"schemas":{
              "Id":{"type":"integer","minimum":1},
              "Pair":{"type":"object","properties":{"id":{"$ref":"#/components/schemas/Id"}},"required":["id"],"additionalProperties":false},
              "a/b":{"const":"slash"}
            }}}
            """##
        #expect(Self.accepts(##"{"id":3}"##, ##"{"$ref":"#/components/schemas/Pair"}"##, root: root))
        #expect(Self.violations(##"{"id":0}"##, ##"{"$ref":"#/components/schemas/Pair"}"##, root: root) == ["$.id: 0 is below the minimum 1"])
        #expect(!Self.accepts(##"{"id":1,"x":1}"##, ##"{"$ref":"#/components/schemas/Pair"}"##, root: root))
        #expect(Self.accepts(##""slash""##, ##"{"$ref":"#/components/schemas/a~1b"}"##, root: root))
        #expect(Self.violations("1", ##"{"$ref":"#/components/schemas/Nope"}"##, root: root) == [
            ##"$: unresolvable $ref "#/components/schemas/Nope""##,
        ])
        // A cycle that never consumes the instance is reported, not followed for ever.
        let loop = ##"{"components":{"schemas":{"L":{"$ref":"#/components/schemas/L"}}}}"##
        #expect(!Self.accepts("1", ##"{"$ref":"#/components/schemas/L"}"##, root: loop))
    }

    @Test func recursiveSchemasFollowTheInstance() {
        let root = ##"{"components":{"schemas":{"Tree":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/components/schemas/Tree"}}},"additionalProperties":false}}}}"##
        #expect(Self.accepts(##"{"kids":[{"kids":[]},{}]}"##, ##"{"$ref":"#/components/schemas/Tree"}"##, root: root))
        #expect(Self.violations(##"{"kids":[{"kids":[{"leaf":1}]}]}"##, ##"{"$ref":"#/components/schemas/Tree"}"##, root: root) == [
            #"$.kids[0].kids[0]: member "leaf" is not allowed"#,
        ])
    }

    @Test func severalViolationsAreAllReported() {
        let schema = #"{"type":"object","properties":{"a":{"type":"string"},"b":{"maximum":1}},"required":["c"],"additionalProperties":false}"#
        let v = Self.violations(#"{"a":1,"b":2,"d":0}"#, schema)
        #expect(v.count == 4, "\(v)")
    }

    @Test func jsonEquality() {
        #expect(JSONSchemaValidator.equal(.int(2), .double(2)))
        #expect(!JSONSchemaValidator.equal(.int(2), .string("2")))
        #expect(JSONSchemaValidator.equal(["a": [1, nil]], ["a": [.double(1), nil]]))
        #expect(!JSONSchemaValidator.equal(["a": 1], ["a": 1, "b": 1]))
    }
}
