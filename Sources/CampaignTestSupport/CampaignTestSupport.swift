// CampaignTestSupport — what the tests share; never linked into a shipped binary.
//
// Owns: private PostgreSQL databases per test (TestDatabase), row factories, managed processes,
// raw sockets, a fake HTTP call provider on loopback, a JSON Schema validator.
//
// May not: stub out the real parts: tests run against a real PostgreSQL, real binaries and real
// HTTP on loopback.
