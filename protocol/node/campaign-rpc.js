// @ts-check
'use strict';

/**
 * A client for the campaign coordinator's JSON-RPC 2.0 socket, for Node.js 18 or later, with
 * no dependencies (node:net and node:events only).
 *
 * The coordinator speaks line-delimited JSON-RPC 2.0 on a Unix stream socket: one JSON value
 * per line, UTF-8, `\n`-terminated, answers possibly out of order and matched by id
 * (protocol/README.md). One `CampaignClient` holds one connection and pipelines concurrent
 * calls on it (at most `maxInFlight`, default 64, on the wire; the rest wait their turn).
 *
 *   const { CampaignClient, RpcError } = require('./campaign-rpc');
 *   const rpc = new CampaignClient();                  // $CAMPAIGN_SOCKET or the default path
 *   const health = await rpc.health();
 *   const { jobs } = await rpc.call('jobs.list', { status: 'FAILED', limit: 10 });
 *   await rpc.close();
 *
 * Errors: `RpcError` (the coordinator answered with an error: `code`, `symbol` from
 * `data.code`, `retryable` from `data.retryable`, `data`), `ConnectionError` (cannot connect,
 * connection closed before the answer, a garbled answer) and its subclass `TimeoutError`.
 *
 * When the connection closes, calls waiting for an answer fail with a ConnectionError — except
 * read-only methods, which are sent once more on a new connection (they change nothing). The
 * next call after a close connects again. The socket does not keep the process alive while no
 * call is pending.
 *
 * @module campaign-rpc
 */

const net = require('node:net');
const { EventEmitter } = require('node:events');

const DEFAULT_SOCKET = '/run/campaign/coordinator.sock';
/** The coordinator refuses longer lines (LIMIT_EXCEEDED). */
const MAX_LINE_BYTES = 1 << 20;
/** The coordinator refuses more than 128 requests in flight per connection. */
const MAX_IN_FLIGHT = 128;
/**
 * What the client keeps on the wire by default: well under the limit, because the coordinator
 * frees a slot only after it has written the answer, so a client that sends the next request
 * the moment an answer arrives can find the slot still taken.
 */
const DEFAULT_MAX_IN_FLIGHT = 64;

/** Methods that change nothing: sent again on a new connection when the old one closed first. */
const READ_ONLY_METHODS = new Set([
  'health', 'metrics', 'agents.list', 'rpc.discover', 'jobs.list', 'jobs.get', 'jobs.tally',
  'calls.list', 'events.list', 'customers.get', 'customers.list', 'automation.get', 'campaigns.get', 'campaigns.list',
]);

// ---------------------------------------------------------------------------------------------
// Wire types (protocol/README.md; Sources/CampaignProtocol mirrors them)
// ---------------------------------------------------------------------------------------------

/** @typedef {'QUEUED'|'ACTIVE'|'COMPLETED'|'FAILED'|'SKIPPED'} JobStatus */
/** @typedef {'CLAIMED'|'DIALING'} JobPhase */
/**
 * One job transition (the params of an `events.job` notification, an item of `events.list`).
 * @typedef {Object} JobEvent
 * @property {number} eventId increasing; each job's transitions in their order
 * @property {number} [subscription] in notifications only
 * @property {number} id the job's id
 * @property {string} queueJobId
 * @property {string} campaign
 * @property {JobStatus} status
 * @property {JobPhase} [phase]
 * @property {string} [outcome]
 * @property {string} [reason]
 * @property {number} attemptsMade
 * @property {string} at
 */
/** @typedef {'ACTIVE'|'OPTED_OUT'|'DO_NOT_CALL'|'CONVERTED'|'INVALID_NUMBER'} CustomerStatus */
/** @typedef {'ANSWERED'|'NO_ANSWER'|'BUSY'|'VOICEMAIL'|'REJECTED'|'FAILED'} CallOutcome */
/**
 * Any JSON value.
 * @typedef {null|boolean|number|string|Array<any>|{[key: string]: any}} JSONValue
 */
/**
 * RFC 3339 UTC with milliseconds, e.g. `2026-11-29T03:45:21.274Z`.
 * @typedef {string} Timestamp
 */

/**
 * Counts of jobs by status (every status present).
 * @typedef {{QUEUED: number, ACTIVE: number, COMPLETED: number, FAILED: number, SKIPPED: number}} QueueCounts
 */

/**
 * A job as the wire shows it. `attemptsMade` counts attempts started, including the running one.
 * @typedef {Object} Job
 * @property {number} id
 * @property {string} queueJobId  idempotency key of the enqueue
 * @property {number} customerId
 * @property {string} [customerRef]
 * @property {JobStatus} status
 * @property {JobPhase} [phase]  while ACTIVE
 * @property {number} attemptsMade
 * @property {number} maxAttempts
 * @property {number} priority
 * @property {Timestamp} runAt
 * @property {string} [reason]  why it was enqueued
 * @property {{outcome?: CallOutcome, reason?: string, error?: string, detail?: JSONValue, [key: string]: JSONValue|undefined}} [result]
 * @property {string} [leaseOwner]
 * @property {Timestamp} [leaseExpiresAt]
 * @property {Timestamp} enqueuedAt
 * @property {Timestamp} [startedAt]  start of the latest attempt
 * @property {Timestamp} [completedAt]
 * @property {Timestamp} [failedAt]
 * @property {Timestamp} updatedAt
 */

/**
 * One placed call (a `call_logs` row).
 * @typedef {Object} CallLog
 * @property {number} id
 * @property {number} jobId
 * @property {number} attempt
 * @property {string} agent
 * @property {string} provider
 * @property {string} [providerCallId]
 * @property {string} idempotencyKey  `<queueJobId>#<attempt>`
 * @property {Timestamp} [startedAt]
 * @property {Timestamp} [endedAt]
 * @property {CallOutcome} outcome
 * @property {number} [durationMs]
 * @property {JSONValue} [detail]
 * @property {Timestamp} createdAt  when the coordinator logged it
 * @property {string} campaign
 * @property {string} customerRef
 */

/**
 * What an agent reports of a placed call.
 * @typedef {Object} CallRecord
 * @property {string} provider
 * @property {string} [providerCallId]
 * @property {string} idempotencyKey  as returned by jobs.dialing
 * @property {Timestamp} [startedAt]
 * @property {Timestamp} [endedAt]
 * @property {CallOutcome} outcome
 * @property {number} [durationMs]
 * @property {JSONValue} [detail]
 */

/**
 * @typedef {Object} Customer
 * @property {number} id
 * @property {string} externalRef
 * @property {string} name
 * @property {string} phone  E.164
 * @property {string} timezone  IANA
 * @property {CustomerStatus} status
 * @property {Timestamp} [lastCalledAt]
 * @property {JSONValue} [attributes]
 * @property {Timestamp} createdAt
 * @property {Timestamp} updatedAt
 */

/**
 * @typedef {Object} CustomerInput
 * @property {string} externalRef
 * @property {string} [name]
 * @property {string} phone
 * @property {string} timezone
 * @property {CustomerStatus} [status]
 * @property {JSONValue} [attributes]
 */

/**
 * One job to enqueue: names its customer by `customerId` or `customerRef`.
 * @typedef {Object} EnqueueItem
 * @property {number} [customerId]
 * @property {string} [customerRef]
 * @property {string} [queueJobId]  idempotency key (generated when absent)
 * @property {string} [reason]
 * @property {number} [priority]
 * @property {number} [maxAttempts]
 * @property {Timestamp} [runAt]  now when absent
 */

/**
 * A rejected item of a bulk request.
 * @typedef {{index: number, ref?: string, reason: string}} ItemError
 */
/**
 * A job an admin change left alone.
 * @typedef {{id: number, status?: JobStatus, code: string}} JobRefusal
 */
/** @typedef {{changed: number[], rejected: JobRefusal[]}} AdminChangeResult */

/**
 * The answer to an agent's report.
 * @typedef {{jobId: number, status: JobStatus, attemptsMade: number, runAt?: Timestamp, replayed: boolean, result?: JSONValue}} ReportResult
 */

/**
 * A customer as an agent sees it in a lease.
 * @typedef {{customerId: number, externalRef: string, name: string, phone: string, timezone: string, attributes?: JSONValue}} CallTarget
 */

/**
 * @typedef {Object} LeasedJob
 * @property {number} jobId
 * @property {string} queueJobId
 * @property {string} leaseToken  every report about the job must carry it
 * @property {number} attempt
 * @property {number} maxAttempts
 * @property {Timestamp} leaseExpiresAt
 * @property {string} [reason]
 * @property {CallTarget} customer
 */

/**
 * The automation settings (protocol/README.md, "Automation settings and eligibility").
 * @typedef {Object} AutomationSettings
 * @property {boolean} enabled
 * @property {string} timezone
 * @property {string} workingHoursStart  HH:MM
 * @property {string} workingHoursEnd  HH:MM, 24:00 = end of day
 * @property {number[]} workingDays  ISO weekdays, 1 = Monday
 * @property {number} dailyCap
 * @property {number} cooldownMinutes
 * @property {number} maxAttempts
 * @property {number} retryBaseMs
 * @property {number} retryFactor
 * @property {number} retryCapMs
 * @property {number} leaseSeconds
 * @property {number} autoRunIntervalSeconds
 * @property {number} maxConcurrentCalls
 * @property {number} callsPerSecond
 * @property {{COMPLETED: string, SKIPPED: string, FAILED: string, callLogs: string, events: string}} retention
 */

/**
 * @typedef {Object} HealthResult
 * @property {string} version
 * @property {number} uptimeSeconds
 * @property {'up'|'down'} database
 * @property {boolean} leader  this coordinator runs the maintenance work
 * @property {number} agents  agents connected
 * @property {QueueCounts} queue
 * @property {number} completedToday  since midnight in the campaign's timezone
 */

/**
 * Every method, its params and its result: `call(method, params)` is typed from this map.
 * @typedef {{
 *   'health': {params: void, result: HealthResult},
 *   'metrics': {params: void, result: {contentType: string, exposition: string}},
 *   'agent.hello': {params: {agentId: string, capacity: number, version: string, leases?: {jobId: number, leaseToken: string}[]}, result: {coordinatorVersion: string, leaseSeconds: number, adoptedLeases?: number[]}},
 *   'jobs.lease': {params: {max: number, waitMs?: number}, result: {jobs: LeasedJob[]}},
 *   'jobs.dialing': {params: {jobId: number, leaseToken: string}, result: {allowed: boolean, idempotencyKey?: string, rule?: string, status: JobStatus, retryAfterMs?: number}},
 *   'jobs.complete': {params: {jobId: number, leaseToken: string, outcome: CallOutcome, call?: CallRecord}, result: ReportResult},
 *   'jobs.fail': {params: {jobId: number, leaseToken: string, retryable: boolean, error: string, outcome?: CallOutcome, call?: CallRecord}, result: ReportResult},
 *   'jobs.skip': {params: {jobId: number, leaseToken: string, reason: string}, result: ReportResult},
 *   'jobs.enqueue': {params: {jobs: EnqueueItem[]}, result: {enqueued: number, existing: number, rejected: ItemError[], jobIds: (number|null)[]}},
 *   'jobs.list': {params: {status?: JobStatus, customerRef?: string, limit?: number, cursor?: string}, result: {jobs: Job[], nextCursor?: string|null}},
 *   'jobs.get': {params: {id?: number, queueJobId?: string}, result: {job: Job, callLogs: CallLog[]}},
 *   'events.subscribe': {params: {campaign?: string|null, after?: number|null}, result: {subscription: number, after: number, head: number}},
 *   'events.unsubscribe': {params: {subscription: number}, result: {unsubscribed: boolean}},
 *   'retention.prune': {params: {dryRun?: boolean}, result: {dryRun: boolean, deleted: {COMPLETED: number, SKIPPED: number, FAILED: number, callLogs: number, events: number}, retention: AutomationSettings['retention'], before: {[kind: string]: string}}},
 *   'events.list': {params: {campaign?: string|null, after?: number|null, limit?: number}, result: {events: JobEvent[], head: number, oldest?: number}},
 *   'calls.list': {params: {since?: string, until?: string, campaign?: string, outcome?: CallOutcome, agent?: string, customerRef?: string, jobId?: number, limit?: number, cursor?: string}, result: {calls: CallLog[], nextCursor?: string}},
 *   'jobs.tally': {params: void, result: {byStatus: QueueCounts, byOutcome: {[statusSlashOutcome: string]: number}, callLogs: number}},
 *   'jobs.retry': {params: {ids: number[], attempts?: number}, result: AdminChangeResult},
 *   'jobs.cancel': {params: {ids: number[]}, result: AdminChangeResult},
 *   'customers.upsert': {params: {customers: CustomerInput[]}, result: {inserted: number, updated: number, rejected: ItemError[]}},
 *   'customers.get': {params: {id?: number, externalRef?: string}, result: Customer},
 *   'customers.list': {params: {status?: CustomerStatus, limit?: number, cursor?: string}, result: {customers: Customer[], nextCursor?: string|null}},
 *   'automation.get': {params: void, result: AutomationSettings},
 *   'automation.set': {params: Partial<AutomationSettings>, result: AutomationSettings},
 *   'automation.run': {params: {dryRun?: boolean}|void, result: {considered: number, eligible: number, enqueued: number, leftOut: {[rule: string]: number}, date: string, capRemaining: number, dryRun: boolean}},
 * }} Methods
 */

/**
 * @typedef {Object} ClientOptions
 * @property {string} [socketPath]  default: $CAMPAIGN_SOCKET, else /run/campaign/coordinator.sock
 * @property {number} [timeoutMs]  default per-call timeout (30,000; 0 = none). A long-polling
 *   `jobs.lease` gets `waitMs` added to it.
 * @property {number} [connectTimeoutMs]  default 5,000
 * @property {number} [maxInFlight]  requests on the wire at once (default 64, at most 128); more
 *   calls wait in the client until an answer frees a slot
 * @property {boolean} [resendReadOnly]  resend read-only calls after a close (default true)
 */

/**
 * @typedef {Object} CallOptions
 * @property {number} [timeoutMs]  this call's timeout (0 = none)
 * @property {boolean} [resend]  send again on a new connection if it closes before the answer
 *   (default: only read-only methods)
 */

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The coordinator answered with a JSON-RPC error object. */
class RpcError extends Error {
  /**
   * @param {number} code  JSON-RPC code (-32700…-32600 standard, ≥ 1000 application)
   * @param {string} message
   * @param {any} [data]  `{code: SYMBOL, retryable: boolean, ...}`
   * @param {string} [method]
   */
  constructor(code, message, data, method) {
    super(message);
    this.name = 'RpcError';
    /** @type {number} */ this.code = code;
    /** @type {any} */ this.data = data;
    /** @type {string|undefined} */ this.method = method;
    /** The stable symbolic name in `data.code`, e.g. `NOT_FOUND`. @type {string|undefined} */
    this.symbol = data && typeof data.code === 'string' ? data.code : undefined;
    /** `data.retryable`: whether trying again later can help. @type {boolean} */
    this.retryable = !!(data && data.retryable === true);
  }

  toString() {
    return `RpcError ${this.code} ${this.symbol || '-'}: ${this.message}`;
  }
}

/** Cannot connect, the connection closed before the answer, or a garbled answer. */
class ConnectionError extends Error {
  /**
   * @param {string} message
   * @param {'connect'|'closed'|'timeout'|'protocol'} kind
   */
  constructor(message, kind) {
    super(message);
    this.name = 'ConnectionError';
    /** @type {'connect'|'closed'|'timeout'|'protocol'} */ this.kind = kind;
  }
}

/** No answer within the call's timeout (the connection stays usable). */
class TimeoutError extends ConnectionError {
  /** @param {string} message */
  constructor(message) {
    super(message, 'timeout');
    this.name = 'TimeoutError';
  }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/**
 * @typedef {Object} Pending
 * @property {number} id
 * @property {string} method
 * @property {any} params
 * @property {string} line
 * @property {boolean} resend
 * @property {(value: any) => void} resolve
 * @property {(error: Error) => void} reject
 * @property {ReturnType<typeof setTimeout>|undefined} timer
 * @property {boolean} sent
 */

class CampaignClient extends EventEmitter {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    super();
    this.socketPath = options.socketPath || process.env.CAMPAIGN_SOCKET || DEFAULT_SOCKET;
    this.timeoutMs = options.timeoutMs === undefined ? 30000 : options.timeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs === undefined ? 5000 : options.connectTimeoutMs;
    this.maxInFlight = Math.max(1, Math.min(options.maxInFlight || DEFAULT_MAX_IN_FLIGHT, MAX_IN_FLIGHT));
    this.resendReadOnly = options.resendReadOnly !== false;
    /** @type {net.Socket|null} */ this._socket = null;
    /** @type {Promise<net.Socket>|null} */ this._connecting = null;
    /** @type {Map<number, Pending>} answers awaited, by id */ this._pending = new Map();
    /** @type {Pending[]} calls waiting for a free slot */ this._queue = [];
    this._inFlight = 0;
    this._nextId = 0;
    /** @type {Buffer[]} */ this._chunks = [];
    this._closing = false;
    /** subscriptions being followed: the socket then keeps the process alive */
    this._following = 0;
  }

  /**
   * Calls a method; resolves with its `result`, rejects with `RpcError` for an error answer.
   * Params and result are typed from `Methods` for the methods it knows; any other name (a
   * method newer than this module) is allowed, untyped.
   * @template {string} M
   * @param {M} method
   * @param {M extends keyof Methods ? Methods[M]['params'] : any} [params]
   * @param {CallOptions} [options]
   * @returns {Promise<M extends keyof Methods ? Methods[M]['result'] : any>}
   */
  call(method, params, options = {}) {
    if (typeof method !== 'string' || method === '') {
      return Promise.reject(new TypeError('method must be a non-empty string'));
    }
    if (params !== undefined && params !== null && typeof params !== 'object') {
      return Promise.reject(new TypeError('params must be an object or an array'));
    }
    this._closing = false;
    const id = ++this._nextId;
    /** @type {any} */
    const request = { jsonrpc: '2.0', id, method };
    if (params !== undefined && params !== null) request.params = params;
    const line = JSON.stringify(request) + '\n';
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
      return Promise.reject(new RangeError(`request of ${Buffer.byteLength(line)} bytes exceeds the coordinator's line limit of ${MAX_LINE_BYTES}`));
    }
    let timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : options.timeoutMs;
    if (timeoutMs > 0 && method === 'jobs.lease' && params && typeof params.waitMs === 'number') {
      timeoutMs += params.waitMs;  // a long poll legitimately takes that long
    }
    const resend = options.resend === undefined ? this.resendReadOnly && READ_ONLY_METHODS.has(method) : options.resend;
    return new Promise((resolve, reject) => {
      /** @type {Pending} */
      const p = { id, method, params, line, resend, resolve, reject, timer: undefined, sent: false };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this._forget(p);
          reject(new TimeoutError(`no answer to ${method} within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this._pending.set(id, p);
      this._queue.push(p);
      this._pump();
    });
  }

  /**
   * Sends a notification: no id, the coordinator runs it and never answers.
   * @param {string} method
   * @param {any} [params]
   * @returns {Promise<void>} resolves once written
   */
  async notify(method, params) {
    /** @type {any} */
    const request = { jsonrpc: '2.0', method };
    if (params !== undefined && params !== null) request.params = params;
    const socket = await this._connect();
    await new Promise((resolve, reject) => socket.write(JSON.stringify(request) + '\n', (/** @type {Error|null|undefined} */ err) => (err ? reject(err) : resolve(undefined))));
    if (this._pending.size === 0 && this._following === 0) socket.unref();
  }

  /**
   * Yields every item of a cursor-paged list method, following `nextCursor` to the end.
   * @template {'jobs.list'|'customers.list'} M
   * @param {M} method
   * @param {Methods[M]['params']} [params]
   * @returns {AsyncGenerator<M extends 'jobs.list' ? Job : Customer>}
   */
  async *paginate(method, params) {
    const key = method === 'jobs.list' ? 'jobs' : 'customers';
    /** @type {any} */
    const p = { limit: 1000, ...(params || {}) };
    for (;;) {
      /** @type {any} */
      const page = await this.call(method, p);
      const items = page && page[key];
      if (!Array.isArray(items)) throw new ConnectionError(`${method} answered without a ${key} list`, 'protocol');
      for (const item of items) yield item;
      if (page.nextCursor === undefined || page.nextCursor === null || items.length === 0) return;
      if (page.nextCursor === p.cursor) throw new ConnectionError(`${method} returned the same cursor twice`, 'protocol');
      p.cursor = page.nextCursor;
    }
  }

  /**
   * Subscribes (`events.subscribe`) and yields every job event in eventId order, for as long as
   * the caller iterates. `after`: the last eventId already handled (undefined: from now on, 0:
   * every event kept). When the connection closes (a coordinator restart) it reconnects and
   * subscribes again after the last event yielded: none missed, none yielded twice. With
   * `reconnect: false` a closed connection throws instead. Errors of the subscription (NOT_FOUND:
   * retention deleted events after `after`) throw RpcError.
   * @param {{campaign?: string, after?: number, reconnect?: boolean}} [options]
   * @returns {AsyncGenerator<JobEvent>}
   */
  async *events(options = {}) {
    let after = options.after === undefined ? null : options.after;
    /** @type {JobEvent[]} */ const buffer = [];
    /** @type {(() => void)|null} */ let wake = null;
    let closed = false;
    const poke = () => { if (wake) { const w = wake; wake = null; w(); } };
    /** @param {string} method @param {any} params */
    const onNotification = (method, params) => {
      if (method === 'events.job' && params && typeof params.eventId === 'number') { buffer.push(params); poke(); }
    };
    const onClose = () => { closed = true; poke(); };
    this.on('notification', onNotification);
    this.on('close', onClose);
    this._following += 1;
    try {
      let pause = 200;
      for (;;) {
        closed = false;
        try {
          const r = await this.call('events.subscribe', { campaign: options.campaign || null, after }, { resend: false });
          if (after === null) after = r.after;
          pause = 200;
          if (this._socket) this._socket.ref();
        } catch (e) {
          if (!(e instanceof ConnectionError) || options.reconnect === false) throw e;
          closed = true;
        }
        while (!closed || buffer.length > 0) {
          while (buffer.length > 0) {
            const e = /** @type {JobEvent} */ (buffer.shift());
            if (after !== null && e.eventId <= after) continue;
            delete e.subscription;
            after = e.eventId;
            yield e;
          }
          if (closed) break;
          await new Promise((resolve) => { wake = () => resolve(undefined); });
        }
        if (options.reconnect === false) throw new ConnectionError('the coordinator closed the connection', 'closed');
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 5000);
      }
    } finally {
      this._following -= 1;
      this.off('notification', onNotification);
      this.off('close', onClose);
      if (this._following === 0 && this._pending.size === 0 && this._socket) this._socket.unref();
    }
  }

  /**
   * Closes the connection. Calls still waiting fail with a ConnectionError ('closed'). The
   * client can be used again afterwards: the next call connects anew.
   * @returns {Promise<void>}
   */
  close() {
    this._closing = true;
    const socket = this._socket;
    this._failAll(new ConnectionError('client closed', 'closed'), true);
    if (!socket) return Promise.resolve();
    socket.ref();  // until it has closed
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  /** Calls waiting for an answer (sent or queued). */
  get pendingCount() {
    return this._pending.size;
  }

  // -- typed helpers, one per method ---------------------------------------------------------

  /**
   * Queue counts, agents, database state, leader, version, uptime.
   * @returns {Promise<HealthResult>}
   */
  health() { return this.call('health'); }
  /**
   * Every metric of the coordinator that answers, in the Prometheus text format.
   * @returns {Promise<string>}
   */
  async metrics() { return (await this.call('metrics')).exposition; }
  /**
   * @param {Methods['jobs.enqueue']['params']} params
   * @returns {Promise<Methods['jobs.enqueue']['result']>}
   */
  enqueueJobs(params) { return this.call('jobs.enqueue', params); }
  /**
   * Newest first, one page.
   * @param {Methods['jobs.list']['params']} [params]
   * @returns {Promise<Methods['jobs.list']['result']>}
   */
  listJobs(params) { return this.call('jobs.list', params || {}); }
  /**
   * @param {Methods['jobs.get']['params']} params
   * @returns {Promise<Methods['jobs.get']['result']>}
   */
  getJob(params) { return this.call('jobs.get', params); }
  /** @returns {Promise<Methods['jobs.tally']['result']>} */
  tallyJobs() { return this.call('jobs.tally'); }
  /**
   * FAILED/SKIPPED → QUEUED now.
   * @param {Methods['jobs.retry']['params']} params
   * @returns {Promise<AdminChangeResult>}
   */
  retryJobs(params) { return this.call('jobs.retry', params); }
  /**
   * QUEUED/ACTIVE → SKIPPED "cancelled".
   * @param {Methods['jobs.cancel']['params']} params
   * @returns {Promise<AdminChangeResult>}
   */
  cancelJobs(params) { return this.call('jobs.cancel', params); }
  /**
   * @param {Methods['customers.upsert']['params']} params
   * @returns {Promise<Methods['customers.upsert']['result']>}
   */
  upsertCustomers(params) { return this.call('customers.upsert', params); }
  /**
   * @param {Methods['customers.get']['params']} params
   * @returns {Promise<Customer>}
   */
  getCustomer(params) { return this.call('customers.get', params); }
  /**
   * @param {Methods['customers.list']['params']} [params]
   * @returns {Promise<Methods['customers.list']['result']>}
   */
  listCustomers(params) { return this.call('customers.list', params || {}); }
  /** @returns {Promise<AutomationSettings>} */
  getAutomation() { return this.call('automation.get'); }
  /**
   * @param {Partial<AutomationSettings>} settings
   * @returns {Promise<AutomationSettings>}
   */
  setAutomation(settings) { return this.call('automation.set', settings); }
  /**
   * @param {{dryRun?: boolean}} [params]
   * @returns {Promise<Methods['automation.run']['result']>}
   */
  runAutomation(params) { return this.call('automation.run', params || {}); }
  /**
   * Agent side: must come first on an agent's connection.
   * @param {Methods['agent.hello']['params']} params
   * @returns {Promise<Methods['agent.hello']['result']>}
   */
  agentHello(params) { return this.call('agent.hello', params); }
  /**
   * @param {Methods['jobs.lease']['params']} params
   * @returns {Promise<Methods['jobs.lease']['result']>}
   */
  leaseJobs(params) { return this.call('jobs.lease', params); }
  /**
   * @param {Methods['jobs.dialing']['params']} params
   * @returns {Promise<Methods['jobs.dialing']['result']>}
   */
  dialing(params) { return this.call('jobs.dialing', params); }
  /**
   * @param {Methods['jobs.complete']['params']} params
   * @returns {Promise<ReportResult>}
   */
  completeJob(params) { return this.call('jobs.complete', params); }
  /**
   * @param {Methods['jobs.fail']['params']} params
   * @returns {Promise<ReportResult>}
   */
  failJob(params) { return this.call('jobs.fail', params); }
  /**
   * @param {Methods['jobs.skip']['params']} params
   * @returns {Promise<ReportResult>}
   */
  skipJob(params) { return this.call('jobs.skip', params); }

  // -- internals -----------------------------------------------------------------------------

  /** @returns {Promise<net.Socket>} */
  _connect() {
    if (this._socket) return Promise.resolve(this._socket);
    if (this._connecting) return this._connecting;
    this._connecting = new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: this.socketPath });
      const timer = this.connectTimeoutMs > 0
        ? setTimeout(() => socket.destroy(new Error(`timed out after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs)
        : undefined;
      /** @param {Error} err */
      const onError = (err) => {
        clearTimeout(timer);
        this._connecting = null;
        reject(new ConnectionError(`cannot connect to ${this.socketPath}: ${err.message}`, 'connect'));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        this._socket = socket;
        this._connecting = null;
        this._chunks = [];
        socket.setNoDelay?.(true);
        socket.on('data', (/** @type {Buffer} */ chunk) => this._onData(socket, chunk));
        socket.on('error', (/** @type {Error} */ err) => this.emit('socketError', err));  // 'close' follows
        socket.on('close', () => this._onClose(socket));
        this.emit('connect');
        if (this._pending.size === 0 && this._following === 0) socket.unref();  // e.g. close() was called meanwhile
        resolve(socket);
      });
    });
    return this._connecting;
  }

  /** Sends queued calls while slots are free; connects first when needed. */
  _pump() {
    if (this._queue.length === 0) return;
    if (!this._socket) {
      this._connect().then(() => this._pump(), (err) => {
        // Everything waiting for this connection fails with the connect error.
        for (const p of this._queue.splice(0)) {
          this._forget(p);
          p.reject(err);
        }
      });
      return;
    }
    const socket = this._socket;
    socket.ref();
    let out = '';
    while (this._queue.length > 0 && this._inFlight < this.maxInFlight) {
      const p = /** @type {Pending} */ (this._queue.shift());
      p.sent = true;
      this._inFlight++;
      out += p.line;
    }
    if (out) socket.write(out);
  }

  /**
   * Drops a call from the bookkeeping (answered, timed out, failed).
   * @param {Pending} p
   */
  _forget(p) {
    if (p.timer) clearTimeout(p.timer);
    if (!this._pending.delete(p.id)) return;
    if (p.sent) {
      // A timed-out call stays on the wire until its (late, ignored) answer; count it free anyway.
      this._inFlight = Math.max(0, this._inFlight - 1);
    } else {
      const i = this._queue.indexOf(p);
      if (i >= 0) this._queue.splice(i, 1);
    }
    if (this._pending.size === 0 && this._following === 0 && this._socket) this._socket.unref();
    if (this._queue.length > 0 && !this._closing) this._pump();
  }

  /**
   * @param {net.Socket} socket
   * @param {Buffer} chunk
   */
  _onData(socket, chunk) {
    if (socket !== this._socket) return;
    let start = 0;
    let nl = chunk.indexOf(10);
    while (nl >= 0) {
      const piece = chunk.subarray(start, nl);
      const line = this._chunks.length > 0 ? Buffer.concat([...this._chunks, piece]) : piece;
      this._chunks = [];
      this._onLine(line.toString('utf8').replace(/\r$/, ''));
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    if (start < chunk.length) this._chunks.push(chunk.subarray(start));
  }

  /** @param {string} line */
  _onLine(line) {
    if (line.trim() === '') return;
    let message;
    try {
      message = JSON.parse(line);
    } catch (e) {
      this._protocolFailure(`the coordinator sent a line that is not JSON: ${line.slice(0, 200)}`);
      return;
    }
    for (const answer of Array.isArray(message) ? message : [message]) {
      if (!answer || typeof answer !== 'object' || answer.jsonrpc !== '2.0') {
        this._protocolFailure(`not a JSON-RPC 2.0 answer: ${JSON.stringify(answer).slice(0, 200)}`);
        return;
      }
      if (!('id' in answer) && typeof answer.method === 'string') {
        // The coordinator's own notification (events.job after events.subscribe).
        this.emit('notification', answer.method, answer.params);
        continue;
      }
      let p = typeof answer.id === 'number' ? this._pending.get(answer.id) : undefined;
      if (answer.id === null && answer.error) {
        // An error the coordinator could not tie to a request (a refused line): with one call
        // on the wire it is that call's answer; otherwise nobody can tell whose it is.
        const sent = [...this._pending.values()].filter((q) => q.sent);
        if (sent.length === 1) p = sent[0];
        else this.emit('orphanError', answer.error);
      }
      if (!p) continue;  // a late answer to a call that timed out
      this._forget(p);
      if (answer.error) {
        const e = answer.error;
        p.reject(new RpcError(typeof e.code === 'number' ? e.code : -32603, String(e.message || ''), e.data, p.method));
      } else if ('result' in answer) {
        p.resolve(answer.result);
      } else {
        p.reject(new ConnectionError(`the answer to ${p.method} has neither result nor error`, 'protocol'));
      }
    }
  }

  /** @param {string} message */
  _protocolFailure(message) {
    const socket = this._socket;
    this._failAll(new ConnectionError(message, 'protocol'), true);
    if (socket) socket.destroy();
  }

  /** @param {net.Socket} socket */
  _onClose(socket) {
    if (socket !== this._socket) return;
    this._socket = null;
    this._chunks = [];
    this._inFlight = 0;
    this.emit('close');
    if (this._closing) return;
    // Calls on the wire: resend those that may be resent, fail the others.
    const again = [];
    for (const p of [...this._pending.values()]) {
      if (!p.sent) continue;
      if (p.resend) {
        p.resend = false;  // once
        p.sent = false;
        again.push(p);
      } else {
        this._forget(p);
        p.reject(new ConnectionError(
          `the coordinator closed the connection before answering ${p.method} (it may or may not have been applied)`,
          'closed'));
      }
    }
    this._queue.unshift(...again);
    if (this._queue.length > 0) setTimeout(() => this._pump(), again.length > 0 ? 200 : 0);
  }

  /**
   * @param {Error} error
   * @param {boolean} includeQueued
   */
  _failAll(error, includeQueued) {
    for (const p of [...this._pending.values()]) {
      if (!p.sent && !includeQueued) continue;
      this._forget(p);
      p.reject(error);
    }
  }
}

module.exports = {
  CampaignClient,
  RpcError,
  ConnectionError,
  TimeoutError,
  DEFAULT_SOCKET,
  READ_ONLY_METHODS,
  MAX_IN_FLIGHT,
  DEFAULT_MAX_IN_FLIGHT,
  MAX_LINE_BYTES,
};
