// CampaignCore — the domain, pure.
//
// Owns: the job lifecycle state machine (JobStateMachine), the eligibility rules (Eligibility),
// retry backoff and outcome policy, E.164 numbers, the formats that name things across processes
// (IdempotencyKey, AutomaticQueueJobID, LeaseOwner) and when a periodic duty is due (Cadence).
//
// May not: do I/O of any kind (no files, sockets, database, clock reads beyond what a caller
// passes in), or import anything beyond the standard library, Foundation and libc. Everything here is
// tested exhaustively without a database.
