// CampaignStore — the only place for SQL.
//
// Owns: the schema (Migrations/), every statement (SQL+*.swift: one `Statement` type each, with
// its text, named bindings and row decoder) and its call (PostgresJobStore+<concern>.swift), the
// libpq wrapper (PQConnection) and the connection pool whose blocking calls run on threads of
// their own, the control connection (leader lock, LISTEN). Other modules may send SQL only
// through PQConnection's `unsafeSQL:` calls (tests, tools).
//
// May not: decide a job transition (it locks rows, asks CampaignCore's state machine, and writes
// what it decided), speak JSON-RPC, or hold a connection while waiting on a client.
