import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {invalid} from '../errors/describe.js';
import {type AuditRecord, Auditor} from './auditor.js';
import {type FaultKind, FaultPlan, faultName, normalizeScript, retryAfterOf} from './faults.js';
import {type ModeStrategy, modeStrategy} from './modes.js';
import {type LwwMode, type LwwServerOptions, normalizeOptions} from './options.js';
import {createRandom, type Random} from './random.js';
import {FixedWindowLimiter, rateLimitHeader, resetSeconds} from './rate-limit.js';
import {InputError, type Reply, ReplyError} from './reply.js';
import {createRoutes, type Operation, type RequestContext, type Route} from './routes.js';
import {ObjectStore, syncTitle} from './store.js';
import type {LwwObject, LwwReport} from './types.js';

/** A running reference server. */
export type LwwServer = {
	/** Base URL, e.g. `http://127.0.0.1:53124` (no trailing slash). */
	readonly url: string;
	/** The bearer token clients must send. */
	readonly token: string;
	/** Id of the one space the token gives access to (`GET /space`). */
	readonly spaceId: string;
	readonly mode: LwwMode;
	/** Ids of the objects stored now, in creation order (the seeded ones first). */
	readonly objectIds: readonly string[];
	/** Requests accepted and not answered yet (reads and writes). */
	readonly inFlight: number;
	/** Counters, overlaps and the request log since the start or the last `reset()`. */
	report(): LwwReport;
	/** Clears counters and logs; the data stays. */
	reset(): void;
	/** A copy of the stored object, or `undefined` when there is none. */
	object(id: string): LwwObject | undefined;
	/**
	What two runs of one job must agree on: each object's id, properties and block contents, with the
	ids the server gave blocks left out (they differ between runs).
	*/
	contents(): Array<{readonly id: string; readonly properties: unknown; readonly blocks: unknown}>;
	/**
	The stored object's version (what `'etag'` mode sends as `ETag: "<version>"` and `'version'` mode
	as `version`), or `undefined` when there is none. Starts at 1; every applied mutation adds 1.
	*/
	version(id: string): number | undefined;
	/**
	Scripts the faults of the next accepted requests, in arrival order, before the `faults` option
	is consulted; `undefined` entries mean "no fault".
	*/
	injectFaults(next: ReadonlyArray<FaultKind | undefined>): void;
	/**
	Holds every request in its wait (after a write has read the stored object, before it applies)
	until the returned function is called. With `whenInFlight()` this makes overlaps deterministic.
	*/
	hold(): () => void;
	/** Resolves once at least `count` requests are in flight; rejects when `signal` aborts or the server closes. */
	whenInFlight(count: number, options?: {readonly signal?: AbortSignal}): Promise<void>;
	/** Stops listening, drops every connection (idle keep-alive ones too) and abandons requests in flight. */
	close(): Promise<void>;
};

const bodyLimit = 1024 * 1024;
const jsonType = 'application/json; charset=utf-8';

class ServerClosedError extends Error {
	override name = 'ServerClosedError';
}

type Pending = {readonly cancel: () => void};

type Waiter = {
	readonly count: number;
	readonly resolve: () => void;
	readonly reject: (reason: unknown) => void;
};

/** Reads the body up to `bodyLimit`; the rest is drained so the connection stays usable. */
async function readBody(request: IncomingMessage): Promise<unknown> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of request) {
		size += (chunk as Buffer).length;
		if (size <= bodyLimit) {
			chunks.push(chunk as Buffer);
		}
	}

	if (size > bodyLimit) {
		throw new ReplyError(413, 'cap_invalid_input', `Request body exceeds ${bodyLimit} bytes`);
	}

	const text = Buffer.concat(chunks).toString('utf8');
	if (text.trim() === '') {
		return undefined;
	}

	try {
		return JSON.parse(text) as unknown;
	} catch (error) {
		throw new ReplyError(400, 'cap_invalid_input', `Request body is not valid JSON: ${(error as Error).message}`);
	}
}

class ReferenceServer implements LwwServer {
	readonly url: string;
	readonly token: string;
	readonly spaceId: string;
	readonly mode: LwwMode;
	readonly #http: Server;
	readonly #store: ObjectStore;
	readonly #random: Random;
	readonly #auditor: Auditor;
	readonly #faults: FaultPlan;
	readonly #routes: ReadonlyMap<string, Route>;
	readonly #limiter: FixedWindowLimiter | undefined;
	readonly #limitPerEndpoint: boolean;
	readonly #latency: readonly [number, number];
	readonly #mode: ModeStrategy;
	readonly #pending = new Set<Pending>();
	#waiters: Waiter[] = [];
	#received = 0;
	#inFlight = 0;
	#holds = 0;
	#closing: Promise<void> | undefined;

	constructor(
		http: Server,
		url: string,
		options: ReturnType<typeof normalizeOptions>,
		parts: {store: ObjectStore; random: Random; spaceId: string},
	) {
		this.#http = http;
		this.url = url;
		this.token = options.token;
		this.mode = options.mode;
		this.spaceId = parts.spaceId;
		this.#store = parts.store;
		this.#random = parts.random;
		this.#latency = options.latency;
		this.#auditor = new Auditor();
		this.#faults = new FaultPlan(options.faults, parts.random);
		this.#mode = modeStrategy(options.mode);
		this.#routes = createRoutes({
			store: parts.store,
			random: parts.random,
			mode: this.#mode,
			space: {id: parts.spaceId, title: 'Reference space'},
		});
		const {rateLimit} = options;
		this.#limiter = rateLimit
			? new FixedWindowLimiter(rateLimit.limit, rateLimit.interval, () => performance.now())
			: undefined;
		this.#limitPerEndpoint = rateLimit !== false && rateLimit.per === 'endpoint';
		http.on('request', (request: IncomingMessage, response: ServerResponse) => {
			void this.#handle(request, response);
		});
	}

	get objectIds(): readonly string[] {
		return this.#store.ids();
	}

	get inFlight(): number {
		return this.#inFlight;
	}

	report(): LwwReport {
		return this.#auditor.report();
	}

	reset(): void {
		this.#auditor.reset();
		this.#received = 0;
	}

	object(id: string): LwwObject | undefined {
		return this.#store.read(id);
	}

	contents(): Array<{readonly id: string; readonly properties: unknown; readonly blocks: unknown}> {
		return this.objectIds.map(id => {
			const object = this.#store.read(id)!;
			return {id, properties: object.properties, blocks: withoutIds(object.blocks)};
		});
	}

	version(id: string): number | undefined {
		return this.#store.version(id);
	}

	injectFaults(next: ReadonlyArray<FaultKind | undefined>): void {
		this.#faults.inject(normalizeScript(next));
	}

	hold(): () => void {
		this.#holds++;
		let released = false;
		return () => {
			if (released) {
				return;
			}

			released = true;
			this.#holds--;
			if (this.#holds === 0) {
				for (const pending of [...this.#pending]) {
					if (pending instanceof HoldGate) {
						pending.open();
					}
				}
			}
		};
	}

	async whenInFlight(count: number, options: {readonly signal?: AbortSignal} = {}): Promise<void> {
		if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
			throw invalid('count', 'an integer >= 1', count);
		}

		const {signal} = options;
		signal?.throwIfAborted();
		if (this.#closing) {
			throw new ServerClosedError('The server is closed');
		}

		if (this.#inFlight >= count) {
			return;
		}

		let waiter: Waiter | undefined;
		const onAbort = (): void => {
			this.#waiters = this.#waiters.filter(item => item !== waiter);
			waiter?.reject(signal?.reason);
		};

		try {
			await new Promise<void>((resolve, reject) => {
				waiter = {count, resolve, reject};
				this.#waiters.push(waiter);
				signal?.addEventListener('abort', onAbort, {once: true});
			});
		} finally {
			signal?.removeEventListener('abort', onAbort);
		}
	}

	async close(): Promise<void> {
		this.#closing ??= new Promise<void>(resolve => {
			for (const pending of [...this.#pending]) {
				pending.cancel();
			}

			for (const waiter of this.#waiters) {
				waiter.reject(new ServerClosedError('The server closed'));
			}

			this.#waiters = [];
			this.#http.close(() => {
				resolve();
			});
			this.#http.closeAllConnections();
		});
		return this.#closing;
	}

	async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
		const method = (request.method ?? 'GET').toUpperCase();
		const url = new URL(request.url ?? '/', 'http://server.invalid');
		const record = this.#auditor.arrive(method, url.pathname);
		const n = ++this.#received;
		const headers: Record<string, string> = {};
		let accepted = false;
		try {
			if (request.headers.authorization !== `Bearer ${this.token}`) {
				throw new ReplyError(401, 'cap_not_authenticated', 'Missing or invalid bearer token');
			}

			if (this.#limiter) {
				const key = this.#limitPerEndpoint ? `${method} ${url.pathname}` : 'token';
				const decision = this.#limiter.take(key);
				headers.RateLimit = rateLimitHeader(decision);
				if (!decision.allowed) {
					throw new ReplyError(429, 'cap_rate_limit_exceeded', 'Rate limit exceeded', {
						'Retry-After': String(resetSeconds(decision.resetMs)),
					});
				}
			}

			const route = this.#routes.get(`${method} ${url.pathname}`);
			if (!route) {
				throw new ReplyError(404, 'cap_not_found', `No endpoint ${method} ${url.pathname}`);
			}

			const context: RequestContext = {
				method,
				path: url.pathname,
				query: url.searchParams,
				body: method === 'GET' ? undefined : await readBody(request),
				headers: request.headers,
			};
			const operation = route(context);
			if (operation.kind === 'write') {
				this.#mode.checkInput(context);
			}

			record.kind = operation.kind;
			record.objectId = operation.objectId;
			this.#auditor.accept(record);
			accepted = true;
			this.#changeInFlight(1);
			const reply = await this.#run(operation, context, n, request, record);
			if (reply) {
				this.#send(response, record, reply, headers);
			}
		} catch (error) {
			if (error instanceof ServerClosedError) {
				this.#destroy(request, record);
			} else if (error instanceof ReplyError) {
				this.#send(response, record, error.toReply(), headers);
			} else {
				const message = error instanceof Error ? error.message : String(error);
				this.#send(response, record, {status: 500, body: {code: 'cap_internal_error', message}}, headers);
			}
		} finally {
			if (accepted) {
				this.#changeInFlight(-1);
			}
		}
	}

	/** The pipeline of an accepted request; returns `undefined` when the socket was destroyed instead. */
	async #run(
		operation: Operation,
		context: RequestContext,
		n: number,
		request: IncomingMessage,
		record: AuditRecord,
	): Promise<Reply | undefined> {
		const fault = this.#faults.next({method: context.method, path: context.path, n});
		if (fault !== undefined) {
			this.#auditor.fault(faultName(fault));
		}

		if (fault === 'reset-before') {
			this.#destroy(request, record);
			return undefined;
		}

		// The lost-update hazard: a write reads the stored object now and writes it back after the wait.
		let current: LwwObject | undefined;
		if (operation.kind === 'write' && 'apply' in operation) {
			current = this.#store.read(operation.objectId);
			if (!current) {
				throw new ReplyError(404, 'cap_not_found', `Object ${operation.objectId} not found`);
			}
		}

		const [min, max] = this.#latency;
		const slow = typeof fault === 'object' && 'slow' in fault ? fault.slow : 0;
		await this.#wait((min === max ? min : this.#random.between(min, max)) + slow);
		if (fault === 500 || fault === 503) {
			throw new ReplyError(
				fault,
				fault === 500 ? 'cap_internal_error' : 'cap_service_unavailable',
				fault === 500 ? 'Injected fault: internal error' : 'Injected fault: service unavailable',
			);
		}

		const retryAfter = retryAfterOf(fault);
		if (retryAfter !== undefined) {
			throw new ReplyError(429, 'cap_rate_limit_exceeded', 'Injected fault: rate limit exceeded', {'Retry-After': String(retryAfter)});
		}

		let reply: Reply;
		if (operation.kind === 'read') {
			reply = operation.run();
		} else {
			// Checked against the version stored now, in the same turn as the write-back. A write whose
			// version matches read that same version before its wait (versions only grow), so the copy it
			// applies to is current.
			const rejection = this.#mode.checkWrite(context, operation.objectId, this.#store.version(operation.objectId));
			if (rejection) {
				this.#auditor.conflict();
				throw rejection;
			}

			const outcome = 'apply' in operation ? operation.apply(current!) : operation.create();
			if (outcome.object === null) {
				this.#store.delete(operation.objectId);
				reply = {status: outcome.status ?? 200, body: outcome.body};
			} else {
				outcome.object.lastUpdated = new Date().toISOString();
				syncTitle(outcome.object);
				const {version} = this.#store.write(outcome.object);
				reply = {
					status: outcome.status ?? 200,
					body: this.#mode.present(outcome.body, version),
					headers: this.#mode.versionHeaders(version),
				};
			}
		}

		if (fault === 'reset-after') {
			this.#destroy(request, record);
			return undefined;
		}

		return reply;
	}

	#changeInFlight(delta: number): void {
		this.#inFlight += delta;
		if (delta > 0 && this.#waiters.length > 0) {
			const ready = this.#waiters.filter(waiter => this.#inFlight >= waiter.count);
			this.#waiters = this.#waiters.filter(waiter => this.#inFlight < waiter.count);
			for (const waiter of ready) {
				waiter.resolve();
			}
		}
	}

	/** Waits `ms`, then for every `hold()` to be released; rejects with `ServerClosedError` on close. */
	async #wait(ms: number): Promise<void> {
		if (ms > 0) {
			await new Promise<void>((resolve, reject) => {
				const pending: Pending = {
					cancel() {
						clearTimeout(timer);
						reject(new ServerClosedError('The server closed'));
					},
				};
				const timer = setTimeout(() => {
					this.#pending.delete(pending);
					resolve();
				}, ms);
				this.#pending.add(pending);
			});
		}

		while (this.#holds > 0) {
			const gate = new HoldGate();
			this.#pending.add(gate);
			try {
				await gate.promise;
			} finally {
				this.#pending.delete(gate);
			}
		}
	}

	#send(response: ServerResponse, record: AuditRecord, reply: Reply, headers: Record<string, string>): void {
		// Recorded before the bytes leave, so a client that reacts to this answer never overlaps it.
		this.#auditor.finish(record, reply.status);
		if (response.destroyed || response.headersSent) {
			return;
		}

		// A 304 has no content (RFC 9110 §15.4.5).
		if (reply.status === 304) {
			response.writeHead(reply.status, {...headers, ...reply.headers});
			response.end();
			return;
		}

		const text = JSON.stringify(reply.body);
		response.writeHead(reply.status, {
			'Content-Type': jsonType,
			'Content-Length': String(Buffer.byteLength(text)),
			...headers,
			...reply.headers,
		});
		response.end(text);
	}

	#destroy(request: IncomingMessage, record: AuditRecord): void {
		this.#auditor.finish(record, 0);
		request.socket.destroy();
	}
}

/** A promise the next `hold()` release (or the close) settles. */
class HoldGate implements Pending {
	readonly promise: Promise<void>;
	open!: () => void;
	cancel!: () => void;

	constructor() {
		this.promise = new Promise<void>((resolve, reject) => {
			this.open = resolve;
			this.cancel = () => {
				reject(new ServerClosedError('The server closed'));
			};
		});
	}
}

/**
Starts a reference last-write-wins HTTP server shaped like the Capacities API (see docs/testing.md,
section "Endpoints", for the endpoints). Options are validated before anything listens.

Facts relied on, from the public Capacities developer docs (developers.capacities.io, API v1 beta):
base paths without ids (`GET /object?id=`, `PATCH /object` with `{id, properties, collections}`,
`POST /blocks/append` with `{id, blocks, position, parentBlockId, propertyId}`, `PATCH /blocks/block`,
`POST /objects/search`, `GET /space`, `GET /space/structures`); objects as `{id, structureId,
collections, properties: {propId: {type, [type]: value}}, blocks: {propId: Block[]}}`; TextBlock
`{tokens, blocks, hierarchy: {key, val}}`, GroupBlock `blocks`, GridBlock `columns: Block[][]`; new
blocks may omit `id`; only TextBlock and GroupBlock can be parents; `position.type` `end` (default),
`start`, `after_block`; errors `{code: 'cap_…', message}`; Bearer tokens; rate limits per token (per
endpoint) announced as `RateLimit: limit=…, remaining=…, reset=…`; last write wins with no conflict
detection.

Extensions beyond those docs, for tests: `PUT /object` (replace the whole object), `PUT
/object/blocks` (replace a block tree), `DELETE /blocks/block`, and an optional object `id` in the
bodies of `PATCH`/`DELETE /blocks/block`. Without it the owner is found from the block id.
*/
export async function startLwwServer(options?: LwwServerOptions): Promise<LwwServer> {
	const normalized = normalizeOptions(options);
	const random = createRandom(normalized.seed);
	const spaceId = random.uuid();
	const store = new ObjectStore(random);
	const now = new Date().toISOString();
	if (typeof normalized.objects === 'number') {
		store.seedCount(normalized.objects, now);
	} else {
		try {
			store.seedObjects(normalized.objects, now);
		} catch (error) {
			if (error instanceof InputError) {
				throw invalid(error.field, error.expected, error.value);
			}

			throw error;
		}
	}

	const http = createServer();
	await new Promise<void>((resolve, reject) => {
		http.once('error', reject);
		http.listen(normalized.port, normalized.host, () => {
			http.off('error', reject);
			resolve();
		});
	});
	const {port} = http.address() as AddressInfo;
	const host = normalized.host.includes(':') ? `[${normalized.host}]` : normalized.host;
	return new ReferenceServer(http, `http://${host}:${port}`, normalized, {store, random, spaceId});
}

/** `value` with every `id` field left out, at any depth. */
function withoutIds(value: unknown): unknown {
	if (Array.isArray(value)) {
		return value.map(withoutIds);
	}

	if (typeof value === 'object' && value !== null) {
		return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'id').map(([key, item]) => [key, withoutIds(item)]));
	}

	return value;
}
