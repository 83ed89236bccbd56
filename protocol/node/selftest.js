#!/usr/bin/env node
// Tests of campaign-rpc.js: first against a scripted fake server (out-of-order answers, an
// answer without id, a closed connection, a garbled line, timeouts, the in-flight limit), then,
// when a coordinator socket is given, against the real coordinator.
//
//   node protocol/node/selftest.js                         # the fake-server part only
//   node protocol/node/selftest.js --socket /tmp/c.sock    # both (or CAMPAIGN_SOCKET=…)
//
// Prints one line per test and ends with "N passed, N failed"; exits 1 when any failed.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { CampaignClient, RpcError, ConnectionError, TimeoutError } = require('./campaign-rpc');

const results = { passed: 0, failed: 0 };
let finished = false;
// A promise that never settles lets Node exit quietly with status 0: make that a failure.
process.on('exit', (code) => {
  if (!finished && code === 0) {
    console.log('not ok - the tests stopped before the end (a promise never settled)');
    console.log(`${results.passed} passed, ${results.failed + 1} failed`);
    process.exitCode = 1;
  }
});

async function test(name, body) {
  const started = Date.now();
  try {
    await body();
    results.passed++;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.failed++;
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

/**
 * A fake coordinator: `onLine(request, reply, socket)` decides what to do with each request.
 * @param {(request: any, reply: (obj: any) => void, socket: net.Socket, state: any) => void} onLine
 */
async function fakeServer(onLine) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'campaign-rpc-selftest-'));
  const socketPath = path.join(dir, 'fake.sock');
  const state = { connections: 0, requests: [], maxUnanswered: 0, unanswered: 0 };
  const sockets = new Set();
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const request = JSON.parse(line);
        state.requests.push(request);
        state.unanswered++;
        state.maxUnanswered = Math.max(state.maxUnanswered, state.unanswered);
        const reply = (obj) => {
          state.unanswered--;
          if (!socket.destroyed) socket.write(JSON.stringify(obj) + '\n');
        };
        onLine(request, reply, socket, state);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    state,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ok = (id, result) => ({ jsonrpc: '2.0', id, result });

async function fakeTests() {
  await test('answers out of order are matched by id', async () => {
    const srv = await fakeServer((req, reply) => {
      // The first request is answered last.
      setTimeout(() => reply(ok(req.id, { echo: req.params.n })), req.params.n === 0 ? 60 : 5);
    });
    const c = new CampaignClient({ socketPath: srv.socketPath });
    try {
      const answers = await Promise.all([0, 1, 2, 3].map((n) => c.call('x.echo', { n })));
      assert.deepEqual(answers.map((a) => a.echo), [0, 1, 2, 3]);
      assert.equal(srv.state.connections, 1, 'all calls share one connection');
      assert.deepEqual(srv.state.requests.map((r) => r.jsonrpc), ['2.0', '2.0', '2.0', '2.0']);
      assert.equal(new Set(srv.state.requests.map((r) => r.id)).size, 4, 'ids are distinct');
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('an error answer becomes an RpcError with code, symbol and retryable', async () => {
    const srv = await fakeServer((req, reply) => reply({
      jsonrpc: '2.0', id: req.id,
      error: { code: 1005, message: 'database unavailable', data: { code: 'DATABASE_UNAVAILABLE', retryable: true, extra: 1 } },
    }));
    const c = new CampaignClient({ socketPath: srv.socketPath });
    try {
      const e = await c.call('health').then(() => null, (err) => err);
      assert.ok(e instanceof RpcError, `${e}`);
      assert.equal(e.code, 1005);
      assert.equal(e.symbol, 'DATABASE_UNAVAILABLE');
      assert.equal(e.retryable, true);
      assert.equal(e.data.extra, 1);
      assert.equal(e.method, 'health');
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('an error with id null goes to the only call on the wire', async () => {
    const srv = await fakeServer((req, reply) => reply({
      jsonrpc: '2.0', id: null, error: { code: 1008, message: 'line too long', data: { code: 'LIMIT_EXCEEDED', retryable: true } },
    }));
    const c = new CampaignClient({ socketPath: srv.socketPath });
    try {
      const e = await c.call('jobs.enqueue', { jobs: [] }).then(() => null, (err) => err);
      assert.ok(e instanceof RpcError && e.symbol === 'LIMIT_EXCEEDED', `${e}`);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('a closed connection fails a write call, resends a read-only call once, and the next call reconnects', async () => {
    let healthSeen = 0;
    const srv = await fakeServer((req, reply, socket) => {
      if (req.method === 'health') {
        healthSeen++;
        if (healthSeen === 1) return socket.destroy();  // the coordinator restarts mid-call
        return reply(ok(req.id, { version: 'fake' }));
      }
      if (req.method === 'jobs.retry') return socket.destroy();
      reply(ok(req.id, { fine: true }));
    });
    const c = new CampaignClient({ socketPath: srv.socketPath });
    try {
      const h = await c.call('health');
      assert.equal(h.version, 'fake');
      assert.equal(healthSeen, 2, 'health was sent twice');
      const e = await c.call('jobs.retry', { ids: [1] }).then(() => null, (err) => err);
      assert.ok(e instanceof ConnectionError && e.kind === 'closed', `${e}`);
      assert.match(e.message, /may or may not have been applied/);
      const after = await c.call('anything');
      assert.equal(after.fine, true);
      assert.equal(srv.state.connections, 3);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('a garbled line fails the calls on the wire with a protocol error', async () => {
    const srv = await fakeServer((req, reply, socket) => socket.write('this is not json\n'));
    const c = new CampaignClient({ socketPath: srv.socketPath });
    try {
      const e = await c.call('jobs.cancel', { ids: [1] }).then(() => null, (err) => err);
      assert.ok(e instanceof ConnectionError && e.kind === 'protocol', `${e}`);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('a call times out; a late answer is ignored and the connection stays usable', async () => {
    const srv = await fakeServer((req, reply) => {
      setTimeout(() => reply(ok(req.id, { n: req.params.n })), req.params.n === 0 ? 300 : 0);
    });
    const c = new CampaignClient({ socketPath: srv.socketPath });
    try {
      const e = await c.call('slow', { n: 0 }, { timeoutMs: 50 }).then(() => null, (err) => err);
      assert.ok(e instanceof TimeoutError && e.kind === 'timeout', `${e}`);
      await new Promise((r) => setTimeout(r, 350));  // the late answer arrives meanwhile
      assert.deepEqual(await c.call('fast', { n: 1 }), { n: 1 });
      assert.equal(srv.state.connections, 1);
      assert.equal(c.pendingCount, 0);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('no more than maxInFlight requests are on the wire at once', async () => {
    const srv = await fakeServer((req, reply) => setTimeout(() => reply(ok(req.id, req.params.n)), 2));
    const c = new CampaignClient({ socketPath: srv.socketPath, maxInFlight: 16 });
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, (_, n) => c.call('x', { n })));
      assert.deepEqual(answers, Array.from({ length: 200 }, (_, n) => n));
      assert.ok(srv.state.maxUnanswered <= 16, `max on the wire ${srv.state.maxUnanswered}`);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  await test('cannot connect: a ConnectionError of kind connect', async () => {
    const c = new CampaignClient({ socketPath: '/nonexistent/campaign.sock' });
    const e = await c.call('health').then(() => null, (err) => err);
    assert.ok(e instanceof ConnectionError && e.kind === 'connect', `${e}`);
    assert.match(e.message, /cannot connect to \/nonexistent\/campaign\.sock/);
  });
}

async function coordinatorTests(socketPath) {
  const c = new CampaignClient({ socketPath });
  try {
    await test('coordinator: health has the documented fields', async () => {
      const h = await c.health();
      assert.equal(typeof h.version, 'string');
      assert.equal(h.database, 'up');
      assert.equal(typeof h.leader, 'boolean');
      for (const s of ['QUEUED', 'ACTIVE', 'COMPLETED', 'FAILED', 'SKIPPED']) assert.equal(typeof h.queue[s], 'number');
    });

    await test('coordinator: 300 concurrent calls on one connection (more than its 128 in flight)', async () => {
      const calls = Array.from({ length: 300 }, (_, i) => (i % 2 ? c.health() : c.tallyJobs()));
      const answers = await Promise.all(calls);
      assert.equal(answers.length, 300);
      assert.ok(answers.every((a, i) => (i % 2 ? typeof a.uptimeSeconds === 'number' : typeof a.callLogs === 'number')));
    });

    await test('coordinator: errors carry code and symbol', async () => {
      const notFound = await c.getJob({ id: 999999999 }).then(() => null, (e) => e);
      assert.ok(notFound instanceof RpcError && notFound.code === 1002 && notFound.symbol === 'NOT_FOUND', `${notFound}`);
      assert.equal(notFound.retryable, false);
      const noMethod = await c.call('no.such.method').then(() => null, (e) => e);
      assert.ok(noMethod instanceof RpcError && noMethod.code === -32601 && noMethod.symbol === 'METHOD_NOT_FOUND', `${noMethod}`);
      const badParams = await c.call('jobs.list', /** @type {any} */ ({ status: 'NOPE' })).then(() => null, (e) => e);
      assert.ok(badParams instanceof RpcError && badParams.code === -32602 && badParams.symbol === 'INVALID_PARAMS', `${badParams}`);
    });

    await test('coordinator: paginate reads every job, as many as the tally counts', async () => {
      const tally = await c.tallyJobs();
      const total = Object.values(tally.byStatus).reduce((a, b) => a + b, 0);
      const ids = new Set();
      for await (const job of c.paginate('jobs.list', { limit: 7 })) ids.add(job.id);
      assert.equal(ids.size, total);
    });

    await test('coordinator: events pushes each transition in order, as events.list reads them', async () => {
      const seen = [];
      const stream = c.events({ after: 0 });
      const deadline = setTimeout(() => { throw new Error('no event of the new job within 15 s'); }, 15000);
      await c.call('jobs.enqueue', { jobs: [{ customerRef: 'web-2', queueJobId: 'node-events-1', reason: 'events' }] });
      for await (const e of stream) {
        seen.push(e);
        if (e.queueJobId === 'node-events-1') break;
      }
      clearTimeout(deadline);
      const last = seen[seen.length - 1];
      assert.equal(last.status, 'QUEUED');
      assert.equal(last.attemptsMade, 0);
      assert.equal(last.subscription, undefined);
      const listed = await c.call('events.list', { after: 0, limit: 1000 });
      const upTo = listed.events.filter((e) => e.eventId <= last.eventId);
      assert.deepEqual(seen.map((e) => e.eventId), upTo.map((e) => e.eventId));
      assert.deepEqual(seen.map((e) => `${e.id}:${e.status}`), upTo.map((e) => `${e.id}:${e.status}`));
    });
  } finally {
    await c.close();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  let socketPath = process.env.CAMPAIGN_SOCKET;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--socket') socketPath = argv[++i];
    else if (argv[i] === '--fake-only') socketPath = undefined;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  console.log(`node ${process.version}`);
  await fakeTests();
  if (socketPath) await coordinatorTests(socketPath);
  else console.log('(no coordinator socket given: only the fake-server tests ran)');
  finished = true;
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
