#!/usr/bin/env node
// What the web app does with the coordinator: show its health, list failed jobs, enqueue calls.
//
//   node protocol/node/example.js                       # health and the latest failed jobs
//   node protocol/node/example.js --enqueue cust-0042   # … and enqueue a call for a customer
//   CAMPAIGN_SOCKET=/tmp/c.sock node protocol/node/example.js --enqueue a --enqueue b --reason follow-up
//
// Exit status: 0 done, 1 a call failed (the error is printed).
'use strict';

const { CampaignClient, RpcError, ConnectionError } = require('./campaign-rpc');

function parseArgs(argv) {
  const args = { socket: undefined, enqueue: [], reason: 'web', limit: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--socket') args.socket = value();
    else if (a === '--enqueue') args.enqueue.push(value());
    else if (a === '--reason') args.reason = value();
    else if (a === '--limit') args.limit = Number(value());
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const rpc = new CampaignClient({ socketPath: args.socket, timeoutMs: 10000 });
  try {
    // Three calls at once, pipelined on one connection and matched by id.
    const [health, tally, failed] = await Promise.all([
      rpc.health(),
      rpc.tallyJobs(),
      rpc.listJobs({ status: 'FAILED', limit: args.limit }),
    ]);
    console.log(`coordinator ${health.version}: database ${health.database}, leader ${health.leader ? 'yes' : 'no'}, ` +
      `${health.agents} agents, up ${health.uptimeSeconds}s, completed today ${health.completedToday}`);
    const q = health.queue;
    console.log(`queue: QUEUED ${q.QUEUED}, ACTIVE ${q.ACTIVE}, COMPLETED ${q.COMPLETED}, FAILED ${q.FAILED}, SKIPPED ${q.SKIPPED}`);
    console.log(`call logs: ${tally.callLogs}`);
    console.log(`failed jobs (newest first, at most ${args.limit}): ${failed.jobs.length} shown${failed.nextCursor ? ', more on the next page' : ''}`);
    for (const job of failed.jobs) {
      const r = job.result || {};
      console.log(`  #${job.id} ${job.queueJobId} customer ${job.customerRef} attempts ${job.attemptsMade}/${job.maxAttempts} ` +
        `${r.outcome || r.reason || '-'} failedAt ${job.failedAt}`);
    }

    // Counting every FAILED job means following the cursor to the end.
    let allFailed = 0;
    for await (const _ of rpc.paginate('jobs.list', { status: 'FAILED' })) allFailed++;
    console.log(`failed jobs in all: ${allFailed}`);

    // Enqueue one call per customer. The web app names the enqueue with its own idempotency
    // key, so a double click (or a resend after a lost answer) creates nothing twice. (Keys
    // ending in ":YYYY-MM-DD" are reserved for the automatic run's jobs.)
    const day = new Date().toISOString().slice(0, 10);
    for (const ref of args.enqueue) {
      const item = { customerRef: ref, queueJobId: `web/${ref}/${day}`, reason: args.reason };
      const first = await rpc.enqueueJobs({ jobs: [item] });
      if (first.rejected.length > 0) {
        console.log(`enqueue ${ref}: rejected: ${first.rejected.map((r) => r.reason).join('; ')}`);
        continue;
      }
      const again = await rpc.enqueueJobs({ jobs: [item] });
      const { job } = await rpc.getJob({ id: /** @type {number} */ (first.jobIds[0]) });
      console.log(`enqueue ${ref}: enqueued ${first.enqueued}, existing ${first.existing}, job #${job.id} ${job.queueJobId} ${job.status}; ` +
        `again: enqueued ${again.enqueued}, existing ${again.existing}`);
    }

    // Errors carry the code, the symbolic name and whether a retry can help.
    try {
      await rpc.getJob({ id: 999999999 });
    } catch (e) {
      if (!(e instanceof RpcError)) throw e;
      console.log(`jobs.get 999999999: ${e.symbol} (code ${e.code}, retryable ${e.retryable}): ${e.message}`);
    }
  } finally {
    await rpc.close();
  }
}

main().catch((e) => {
  if (e instanceof RpcError) console.error(`error ${e.code} ${e.symbol || '-'}: ${e.message}`);
  else if (e instanceof ConnectionError) console.error(`connection problem (${e.kind}): ${e.message}`);
  else console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
