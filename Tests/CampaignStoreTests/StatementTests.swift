@testable import CampaignStore
import CampaignTestSupport
import Testing

/// Statements as types: named parameters numbered once, bindings by name, and every statement of
/// the store held to the migrated schema.
@Suite("Statements")
struct StatementTests {
    @Test("named parameters become $n in order of first use; a name used twice is one parameter")
    func namesAreNumberedInOrderOfFirstUse() {
        let sql = StatementSQL("t", "SELECT $b::int, $a, $b + 1, $a_2::text[]")
        #expect(sql.text == "SELECT $1::int, $2, $1 + 1, $3::text[]")
        #expect(sql.parameters == ["b", "a", "a_2"])
        #expect(sql.name == "t")
    }

    @Test("literals and comments are left alone; a statement without parameters has none")
    func literalsAndCommentsAreNotParameters() {
        let sql = StatementSQL("t", """
            SELECT '$no' AS x, 'it''s $no' AS y -- $no either
            , $yes
            """)
        #expect(sql.text == """
            SELECT '$no' AS x, 'it''s $no' AS y -- $no either
            , $1
            """)
        #expect(sql.parameters == ["yes"])
        #expect(StatementSQL("t", "SELECT 1").parameters.isEmpty)
    }

    @Test("bindings come out in the text's order whatever order they were bound in")
    func bindingsFollowTheText() throws {
        let sql = StatementSQL("t", "SELECT $b, $a, $c::bigint[], $d, $e")
        var b = Bindings()
        b.bind("a", "A")
        b.bind("c", array: [1, 2] as [Int64])
        b.bind("b", nil as String?)
        b.bind("d", true)
        b.bind("e", 7)
        #expect(try b.positional(for: sql) == [nil, "A", "{1,2}", "true", "7"])
    }

    @Test("a parameter missing, bound twice or not in the text is an error naming the statement")
    func bindingMismatchesAreErrors() {
        let sql = StatementSQL("t_two", "SELECT $a, $b")
        var missing = Bindings()
        missing.bind("a", "1")
        var twice = Bindings()
        twice.bind("a", "1")
        twice.bind("a", "2")
        var stranger = Bindings()
        stranger.bind("a", "1")
        stranger.bind("c", "2")
        var extra = Bindings()
        extra.bind("a", "1")
        extra.bind("b", "2")
        extra.bind("c", "3")
        for bindings in [missing, twice, stranger, extra] {
            #expect { _ = try bindings.positional(for: sql) } throws: { error in
                let e = error as? StoreError
                return e?.code == .unexpectedResult && e?.message.contains("t_two") == true
            }
        }
    }

    @Test("every statement of the store prepares against the migrated schema, with the parameters it names")
    func everyStatementPrepares() async throws {
        let (db, _) = try await TestDatabase.migrated("statements")
        defer { db.drop() }
        // Blocking libpq calls: on a Dispatch thread, not the test process's cooperative pool.
        let (names, counts) = try await blocking {
            let conn = try db.connect()
            var names: [String] = []
            var counts: [Int] = []
            for statement in SQL.all {
                names.append(statement.sql.name)
                counts.append(try conn.prepareAndDescribe(statement.sql))
            }
            return (names, counts)
        }
        for (statement, count) in zip(SQL.all, counts) {
            let sql = statement.sql
            #expect(count == sql.parameters.count, "\(sql.name): the server sees \(count) parameters")
        }
        #expect(Set(names).count == names.count, "two statements share a name: \(names.sorted())")
        #expect(names.count >= 38)
    }
}
