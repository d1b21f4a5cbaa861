/*
One scenario table, run through the three HTTP entry points against a real server on 127.0.0.1:
`lanes.fetch`, `lanes.wrapKy(ky)` and `lanes.update(url, mutate)`. Each scenario is written once, as
the pipeline should behave, against the small `Client` interface below.

A pair that cannot apply (a GET cache for `update()`, coalescing through ky) is named, with its
reason, in the scenario's `notApplicable`, and the README says the same.
*/
import type {IncomingHttpHeaders} from 'node:http';
import ky from 'ky';
import {describe, expect, onTestFinished, test} from 'vitest';
import {capacities, createLanes, isSuperseded, isUncertainOutcomeError, type LaneEvent, type Lanes, type LanesOptions} from '../src/index.js';
import {startServer} from './http-helpers.js';

type EntryName = 'fetch' | 'ky' | 'update';

type CallOptions = {
	/** Sent as `x-call`, so the server can tell the calls (and `update()`'s read and write) apart. */
	readonly tag: string;
	readonly method?: 'PUT' | 'PATCH' | 'POST';
	readonly headers?: Record<string, string>;
	readonly signal?: AbortSignal;
	/** Bounds the call after it started: `AbortSignal.timeout()`, or ky's own `timeout`. */
	readonly timeoutMs?: number;
	/** Where `update()` reads the resource it writes at `url` (Capacities: `GET /object?id=`, `PATCH /object`). */
	readonly readUrl?: string;
};

type Result = {readonly status: number; readonly text: string; readonly response: Response};

/** What a scenario sees of an entry point, bound to one lanes instance. */
type Client = {
	/** A write of `body` (JSON); through `update()`, a read of the resource and then the write, under one lane hold. */
	write(url: string, body: unknown, options: CallOptions): Promise<Result>;
	/** A read; through `update()`, a read-modify-write whose `mutate` writes nothing. */
	read(url: string, options: CallOptions): Promise<Result>;
};

type Entry = {
	readonly name: EntryName;
	/** Whether each write sends a GET first (`update()`): server-side counts look at mutating requests. */
	readonly readsFirst: boolean;
	/** Whether `read()` takes the resource's write lane (`update()` reads under it) instead of running freely. */
	readonly readsHoldTheLane: boolean;
	/** The method an operation's events report for a write sent with `method`. */
	summaryMethod(method: string): string;
	bind(lanes: Lanes): Client;
};

async function result(response: Response): Promise<Result> {
	return {status: response.status, text: await response.clone().text(), response};
}

function signalOf(options: CallOptions): AbortSignal | undefined {
	const signals = [options.signal, options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs)].filter(signal => signal !== undefined);
	return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
}

function headersOf(options: CallOptions): Record<string, string> {
	return {'x-call': options.tag, ...options.headers};
}

const entries: Entry[] = [
	{
		name: 'fetch',
		readsFirst: false,
		readsHoldTheLane: false,
		summaryMethod: method => method,
		bind: lanes => ({
			async write(url, body, options) {
				const signal = signalOf(options);
				return result(
					await lanes.fetch(url, {
						method: options.method ?? 'PUT',
						headers: {'content-type': 'application/json', ...headersOf(options)},
						body: JSON.stringify(body),
						...(signal && {signal}),
					}),
				);
			},
			async read(url, options) {
				const signal = signalOf(options);
				return result(await lanes.fetch(url, {headers: headersOf(options), ...(signal && {signal})}));
			},
		}),
	},
	{
		name: 'ky',
		readsFirst: false,
		readsHoldTheLane: false,
		summaryMethod: method => method,
		bind(lanes) {
			// ky retries only the methods it is told to; here every method the lanes' own policy may retry
			// (PATCH and POST with an idempotency key), at once, as `retry: {backoff}` does for the others.
			const api = lanes.wrapKy(
				ky.create({retry: {limit: 2, methods: ['get', 'put', 'patch', 'post', 'delete', 'head', 'options', 'trace'], delay: () => 0}, timeout: false}),
			);
			return {
				async write(url, body, options) {
					return result(
						await api(url, {
							method: options.method ?? 'PUT',
							json: body,
							headers: headersOf(options),
							...(options.signal && {signal: options.signal}),
							...(options.timeoutMs !== undefined && {timeout: options.timeoutMs}),
						}),
					);
				},
				async read(url, options) {
					return result(
						await api.get(url, {
							headers: headersOf(options),
							...(options.signal && {signal: options.signal}),
							...(options.timeoutMs !== undefined && {timeout: options.timeoutMs}),
						}),
					);
				},
			};
		},
	},
	{
		name: 'update',
		readsFirst: true,
		readsHoldTheLane: true,
		// One operation, read and write, reported by its read.
		summaryMethod: () => 'GET',
		bind: lanes => ({
			async write(url, body, options) {
				const signal = signalOf(options);
				const updated = await lanes.update(options.readUrl ?? url, () => body, {
					method: options.method ?? 'PUT',
					headers: headersOf(options),
					...(options.readUrl !== undefined && {writeUrl: url}),
					...(signal && {signal}),
				});
				return result(updated.response);
			},
			async read(url, options) {
				const signal = signalOf(options);
				const updated = await lanes.update(url, () => undefined, {headers: headersOf(options), ...(signal && {signal})});
				// update() has parsed the read's body: what it read is `value`.
				return {status: updated.response.status, text: JSON.stringify(updated.value), response: updated.response};
			},
		}),
	},
];

/* ------------------------------------------------------------------------------------------------ */
/* The server                                                                                        */

type Reply = {readonly status?: number; readonly headers?: Record<string, string>; readonly body?: string};

type Arrival = {
	readonly index: number;
	readonly method: string;
	/** Path and query, as sent. */
	readonly url: string;
	readonly path: string;
	readonly tag: string;
	readonly body: string;
	readonly headers: IncomingHttpHeaders;
	/** `performance.now()` when the whole request had arrived. */
	readonly at: number;
	readonly mutating: boolean;
	/** `performance.now()` when it was answered (or its connection closed). */
	endedAt: number | undefined;
	answer(reply?: Reply): void;
};

type ServerOptions = {
	/** Requests the test answers itself (`arrival.answer()`); the others are answered at once. */
	readonly hold?: (arrival: Arrival) => boolean;
	/** The answer to a request; by default 200 with a small JSON body naming it. */
	readonly reply?: (arrival: Arrival) => Reply;
};

const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** How long a scenario waits for the server to see something that should happen before failing. */
const patienceMs = 2000;

/** Lets anything that would reach the server now arrive: only for "this did not happen" checks. */
async function quiet(): Promise<void> {
	await new Promise(resolve => setTimeout(resolve, 30));
}

/** Marks a call's promise handled, so a known gap that leaves it rejecting later raises no unhandled rejection. */
function handled<T>(promise: Promise<T>): Promise<T> {
	promise.catch(() => undefined);
	return promise;
}

async function recordingServer(options: ServerOptions = {}) {
	const arrivals: Arrival[] = [];
	const checks = new Set<() => void>();
	let inFlight = 0;
	let maxInFlight = 0;
	const writesInFlight = new Map<string, number>();
	let maxWritesInFlightPerPath = 0;
	const recheck = () => {
		for (const check of checks) {
			check();
		}
	};

	const server = await startServer((request, body, response) => {
		const url = request.url ?? '/';
		const method = request.method ?? 'GET';
		const mutating = !idempotent.has(method);
		const path = new URL(url, 'http://x').pathname;
		const tag = String(request.headers['x-call'] ?? '');
		const end = () => {
			if (arrival.endedAt === undefined) {
				arrival.endedAt = performance.now();
				inFlight--;
				if (mutating) {
					writesInFlight.set(path, (writesInFlight.get(path) ?? 1) - 1);
				}

				recheck();
			}
		};

		const arrival: Arrival = {
			index: arrivals.length,
			method,
			url,
			path,
			tag,
			body,
			headers: request.headers,
			at: performance.now(),
			mutating,
			endedAt: undefined,
			answer(reply = options.reply?.(arrival) ?? {}) {
				const text = reply.body ?? JSON.stringify({method, path, tag});
				response.writeHead(reply.status ?? 200, {'content-type': 'application/json', ...reply.headers}).end(text);
				end();
			},
		};
		arrivals.push(arrival);
		inFlight++;
		maxInFlight = Math.max(maxInFlight, inFlight);
		if (mutating) {
			const count = (writesInFlight.get(path) ?? 0) + 1;
			writesInFlight.set(path, count);
			maxWritesInFlightPerPath = Math.max(maxWritesInFlightPerPath, count);
		}

		// A request its client gave up on is no longer in flight.
		response.on('close', end);
		if (!options.hold?.(arrival)) {
			arrival.answer();
		}

		recheck();
	});

	/** Resolves once `condition()` holds (checked on every arrival and answer); rejects after `patienceMs`. */
	const until = async (label: string, condition: () => boolean): Promise<void> => {
		if (condition()) {
			return;
		}

		await new Promise<void>((resolve, reject) => {
			const check = () => {
				if (condition()) {
					done();
					resolve();
				}
			};

			const timer = setTimeout(() => {
				done();
				reject(new Error(`the server never saw ${label}; it saw: ${arrivals.map(arrival => `${arrival.method} ${arrival.url} [${arrival.tag}]`).join(', ') || 'nothing'}`));
			}, patienceMs);
			const done = () => {
				clearTimeout(timer);
				checks.delete(check);
			};

			checks.add(check);
		});
	};

	const matching = (filter: Partial<Pick<Arrival, 'tag' | 'method' | 'mutating' | 'path'>>) =>
		arrivals.filter(arrival => Object.entries(filter).every(([name, value]) => arrival[name as keyof Arrival] === value));

	return {
		url: server.url,
		close: async () => server.close(),
		arrivals,
		get inFlight() {
			return inFlight;
		},
		get maxInFlight() {
			return maxInFlight;
		},
		get maxWritesInFlightPerPath() {
			return maxWritesInFlightPerPath;
		},
		until,
		matching,
		/** The first request matching `filter`, once it has arrived. */
		async arrival(filter: Partial<Pick<Arrival, 'tag' | 'method' | 'mutating' | 'path'>>): Promise<Arrival> {
			await until(JSON.stringify(filter), () => matching(filter).length > 0);
			return matching(filter)[0]!;
		},
		/** Tags of the mutating requests, in arrival order. */
		writes(): string[] {
			return arrivals.filter(arrival => arrival.mutating).map(arrival => arrival.tag);
		},
	};
}

type Server = Awaited<ReturnType<typeof recordingServer>>;

/**
A held first request would hold every other request of its rate-limit bucket while the pacer probes
the quota (README, "Rate limits that follow the server"); scenarios that hold requests on purpose turn
probing off. The pacing scenario keeps the default.
*/
const base: LanesOptions = {pacing: {probe: false}};

async function setup(entry: Entry, options: LanesOptions, serverOptions: ServerOptions = {}): Promise<{server: Server; lanes: Lanes; client: Client}> {
	const server = await recordingServer(serverOptions);
	const lanes = createLanes(options);
	onTestFinished(async () => closeAll(server, lanes));
	return {server, lanes, client: entry.bind(lanes)};
}

/**
Drops what is still queued, answers what the server still holds (so a test that failed half-way
leaves no write in doubt for the lanes to wait out), then closes both.
*/
async function closeAll(server: Server, lanes: Lanes): Promise<void> {
	const closing = lanes.close({abort: true});
	for (const arrival of server.arrivals) {
		if (arrival.endedAt === undefined) {
			arrival.answer();
		}
	}

	await closing;
	await server.close();
}

/* ------------------------------------------------------------------------------------------------ */
/* The scenarios                                                                                     */

type Scenario = {
	readonly id: string;
	readonly title: string | ((entry: Entry) => string);
	/** Entries the scenario cannot apply to, each with the reason (it ends up in the test name). */
	readonly notApplicable?: Partial<Record<EntryName, string>>;
	run(entry: Entry): Promise<void>;
};

const scenarios: Scenario[] = [
	{
		id: 'serial',
		title: 'writes to one resource never overlap on the server and land in call order',
		async run(entry) {
			const {server, client} = await setup(entry, base, {hold: arrival => arrival.mutating});
			const url = `${server.url}/objects/1`;
			const a = handled(client.write(url, {n: 1}, {tag: 'a'}));
			const b = handled(client.write(url, {n: 2}, {tag: 'b'}));
			const c = handled(client.write(url, {n: 3}, {tag: 'c'}));
			const first = await server.arrival({tag: 'a', mutating: true});
			await quiet();
			// Nothing of the later calls while the first is unanswered: not even update()'s read.
			expect(server.matching({tag: 'b'})).toEqual([]);
			expect(server.matching({tag: 'c'})).toEqual([]);
			first.answer();
			expect((await a).status).toBe(200);
			const second = await server.arrival({tag: 'b', mutating: true});
			await quiet();
			expect(server.matching({tag: 'c'})).toEqual([]);
			second.answer();
			await b;
			(await server.arrival({tag: 'c', mutating: true})).answer();
			await c;
			expect(server.writes()).toEqual(['a', 'b', 'c']);
			expect(server.maxWritesInFlightPerPath).toBe(1);
		},
	},
	{
		id: 'parallel',
		title: 'writes to different resources run in parallel',
		async run(entry) {
			const {server, client} = await setup(entry, base, {hold: arrival => arrival.mutating});
			const a = handled(client.write(`${server.url}/objects/1`, {n: 1}, {tag: 'a'}));
			const b = handled(client.write(`${server.url}/objects/2`, {n: 2}, {tag: 'b'}));
			// Both are on the server unanswered at once.
			await server.until('both writes in flight', () => server.matching({mutating: true}).length === 2);
			expect(server.inFlight).toBe(2);
			for (const arrival of server.matching({mutating: true})) {
				arrival.answer();
			}

			expect((await a).status).toBe(200);
			expect((await b).status).toBe(200);
		},
	},
	{
		id: 'reads',
		title: entry =>
			entry.readsHoldTheLane
				? 'a read of a resource waits for the write in flight on it (update() reads under the write lane)'
				: 'a read of a resource does not wait for the write in flight on it',
		async run(entry) {
			const {server, client} = await setup(entry, base, {hold: arrival => arrival.mutating});
			const url = `${server.url}/objects/1`;
			const write = handled(client.write(url, {n: 1}, {tag: 'w'}));
			const held = await server.arrival({tag: 'w', mutating: true});
			const read = handled(client.read(url, {tag: 'r'}));
			if (entry.readsHoldTheLane) {
				await quiet();
				expect(server.matching({tag: 'r'})).toEqual([]);
				held.answer();
				await write;
				expect(JSON.parse((await read).text)).toMatchObject({method: 'GET', tag: 'r'});
			} else {
				// Answered while the write is still held.
				expect(JSON.parse((await read).text)).toMatchObject({method: 'GET', tag: 'r'});
				expect(held.endedAt).toBeUndefined();
				held.answer();
				await write;
			}

			expect(server.matching({tag: 'r'}).map(arrival => arrival.method)).toEqual(['GET']);
		},
	},
	{
		id: 'retry-in-lane',
		title: "a write answered 429 (Retry-After: 0) is retried before the lane's next queued write reaches the server",
		async run(entry) {
			let refused = false;
			const {server, client} = await setup(entry, base, {
				reply(arrival) {
					if (arrival.mutating && arrival.tag === 'a' && !refused) {
						refused = true;
						return {status: 429, headers: {'retry-after': '0'}, body: '{"code":"rate_limited"}'};
					}

					return {};
				},
			});
			const url = `${server.url}/objects/1?attempt=x`;
			const a = handled(client.write(url, {n: 1}, {tag: 'a'}));
			const b = handled(client.write(url, {n: 2}, {tag: 'b'}));
			expect((await a).status).toBe(200);
			expect((await b).status).toBe(200);
			expect(server.writes()).toEqual(['a', 'a', 'b']);
			// update()'s read of the next write comes after the retry too.
			const firstOfB = server.matching({tag: 'b'})[0]!;
			expect(firstOfB.index).toBeGreaterThan(server.matching({tag: 'a', mutating: true})[1]!.index);
		},
	},
	{
		id: 'retry-event',
		title: "a 429 retry fires one `retry` event with attempt 1 and the request's method and URL without query",
		async run(entry) {
			let refused = false;
			const {server, lanes, client} = await setup(entry, base, {
				reply(arrival) {
					if (arrival.mutating && !refused) {
						refused = true;
						return {status: 429, headers: {'retry-after': '0'}};
					}

					return {};
				},
			});
			const retries: LaneEvent[] = [];
			lanes.on('retry', event => retries.push(event));
			await client.write(`${server.url}/objects/1?attempt=x`, {n: 1}, {tag: 'a'});
			expect(server.writes()).toEqual(['a', 'a']);
			expect(retries).toEqual([expect.objectContaining({type: 'retry', attempt: 1, status: 429, request: {method: 'PUT', url: `${server.url}/objects/1`}})]);
		},
	},
	{
		id: 'concurrency',
		title: 'with `concurrency: 2`, never more than 2 requests are in flight at the server across resources',
		async run(entry) {
			const {server, client} = await setup(entry, {...base, concurrency: 2}, {hold: () => true});
			const count = 6;
			const calls = Array.from({length: count}, (_, index) => handled(client.write(`${server.url}/objects/${index}`, {n: index}, {tag: `w${index}`})));
			const total = count * (entry.readsFirst ? 2 : 1);
			let answered = 0;
			while (answered < total) {
				const expected = Math.min(2, total - answered);
				await server.until(`${expected} requests in flight`, () => server.inFlight >= expected);
				await quiet();
				expect(server.inFlight).toBe(expected);
				server.arrivals.find(arrival => arrival.endedAt === undefined)!.answer();
				answered++;
			}

			await Promise.all(calls);
			expect(server.maxInFlight).toBe(2);
			expect(server.writes().sort()).toEqual(Array.from({length: count}, (_, index) => `w${index}`).sort());
		},
	},
	{
		id: 'pacing',
		title: 'a quota announced spent (draft-07 `RateLimit: remaining=0`, reset 200 ms) makes the next request wait for the reset, with no 429',
		async run(entry) {
			// A fixed window of one call's requests per 200 ms, announced on every answer, as Capacities does
			// (in fractional seconds, which the pacer reads, so the test need not wait whole seconds).
			const windowMs = 200;
			const limit = entry.readsFirst ? 2 : 1;
			let window = {start: 0, count: 0};
			const {server, client} = await setup(
				entry,
				{},
				{
					reply(arrival) {
						if (arrival.at >= window.start + windowMs) {
							window = {start: arrival.at, count: 0};
						}

						const allowed = window.count < limit;
						window.count += allowed ? 1 : 0;
						const reset = ((window.start + windowMs - arrival.at) / 1000).toFixed(3);
						const headers = {ratelimit: `limit=${limit}, remaining=${limit - window.count}, reset=${reset}`};
						return allowed ? {headers} : {status: 429, headers: {...headers, 'retry-after': '1'}};
					},
				},
			);
			await client.write(`${server.url}/objects/1`, {n: 1}, {tag: 'a'});
			const limitedAt = server.matching({tag: 'a', mutating: true})[0]!.endedAt!;
			// Another resource: only the quota can hold it back.
			await client.write(`${server.url}/objects/2`, {n: 2}, {tag: 'b'});
			const next = server.matching({tag: 'b'})[0]!;
			expect(next.at - limitedAt).toBeGreaterThanOrEqual(150);
			expect(server.arrivals.map(arrival => `${arrival.method} ${arrival.tag}`)).toEqual(
				entry.readsFirst ? ['GET a', 'PUT a', 'GET b', 'PUT b'] : ['PUT a', 'PUT b'],
			);
		},
	},
	{
		id: 'uncertain',
		title: 'a write timed out after it was sent rejects as uncertain, and the next queued write waits out the default grace period (1000 ms)',
		async run(entry) {
			const {server, client} = await setup(entry, base, {hold: arrival => arrival.mutating && arrival.tag === 'a'});
			const url = `${server.url}/objects/1`;
			const a = handled(client.write(url, {n: 1}, {tag: 'a', timeoutMs: 250}));
			await server.arrival({tag: 'a', mutating: true});
			const b = handled(client.write(url, {n: 2}, {tag: 'b'}));
			const error: unknown = await a.then(
				() => undefined,
				(error_: unknown) => error_,
			);
			const rejectedAt = performance.now();
			expect(isUncertainOutcomeError(error)).toBe(true);
			expect((await b).status).toBe(200);
			const next = server.matching({tag: 'b'})[0]!;
			// The lane stays held for the grace period after the failure, so a late application lands first.
			expect(next.at - rejectedAt).toBeGreaterThanOrEqual(900);
			expect(server.writes()).toEqual(['a', 'b']);
		},
	},
	{
		id: 'idempotency-key',
		title: 'with `idempotencyKeys: true` a PATCH carries an Idempotency-Key, the same one on its retry after a 503',
		async run(entry) {
			let failed = false;
			const {server, client} = await setup(
				entry,
				{...base, idempotencyKeys: true, retry: {limit: 2, backoff: () => 0}},
				{
					reply(arrival) {
						if (arrival.mutating && !failed) {
							failed = true;
							return {status: 503};
						}

						return {};
					},
				},
			);
			expect((await client.write(`${server.url}/objects/1`, {n: 1}, {tag: 'a', method: 'PATCH'})).status).toBe(200);
			const patches = server.matching({method: 'PATCH'});
			expect(patches).toHaveLength(2);
			const [first, retry] = patches.map(arrival => arrival.headers['idempotency-key']);
			expect(first).toMatch(/^\S{8,}$/);
			expect(retry).toBe(first);
		},
	},
	{
		id: 'events',
		title: 'enqueue, start and done fire for each call, with summaries free of credentials and query strings',
		async run(entry) {
			const {server, lanes, client} = await setup(entry, base);
			const events: LaneEvent[] = [];
			lanes.on('*', event => events.push(event));
			const url = `${server.url}/objects/1`;
			const secrets = {headers: {authorization: 'Bearer secret-token'}};
			await client.write(`${url}?token=secret`, {n: 1}, {tag: 'w', ...secrets});
			await client.read(`${url}?token=secret`, {tag: 'r', ...secrets});
			// The server did get the credentials: they were sent, only never reported.
			expect(server.arrivals.every(arrival => arrival.headers.authorization === 'Bearer secret-token' && arrival.url.endsWith('?token=secret'))).toBe(true);
			const operations = events.filter(event => event.type !== 'idle');
			const types = operations.map(event => event.type);
			expect(types.filter(type => type === 'enqueue')).toHaveLength(2);
			expect(types.filter(type => type === 'start')).toHaveLength(2);
			expect(types.filter(type => type === 'done')).toHaveLength(2);
			const [write, read] = [...new Set(operations.map(event => ('id' in event ? event.id : -1)))];
			for (const event of operations) {
				expect(event).toMatchObject({request: {method: 'id' in event && event.id === write ? entry.summaryMethod('PUT') : 'GET', url}});
			}

			expect(read).toBeDefined();
			expect(JSON.stringify(events)).not.toMatch(/secret/);
		},
	},
	{
		id: 'abort-queued',
		title: 'a write aborted while queued rejects with the reason, never reaches the server, and the one behind it runs in order',
		async run(entry) {
			const {server, client} = await setup(entry, base, {hold: arrival => arrival.mutating});
			const url = `${server.url}/objects/1`;
			const controller = new AbortController();
			const a = handled(client.write(url, {n: 1}, {tag: 'a'}));
			const b = handled(client.write(url, {n: 2}, {tag: 'b', signal: controller.signal}));
			const c = handled(client.write(url, {n: 3}, {tag: 'c'}));
			const first = await server.arrival({tag: 'a', mutating: true});
			const reason = new Error('changed my mind');
			controller.abort(reason);
			await expect(b).rejects.toBe(reason);
			first.answer();
			await a;
			(await server.arrival({tag: 'c', mutating: true})).answer();
			await c;
			expect(server.matching({tag: 'b'})).toEqual([]);
			expect(server.writes()).toEqual(['a', 'c']);
		},
	},
	{
		id: 'cache',
		title: 'with `cache: true` a second GET revalidates with If-None-Match and a 304 yields the cached body',
		notApplicable: {update: 'update() sends no GET a caller repeats: its one read per attempt is inside the write lane (revalidated like any GET when the cache is on)'},
		async run(entry) {
			const {server, client} = await setup(
				entry,
				{...base, cache: true},
				{
					reply: arrival =>
						arrival.headers['if-none-match'] === '"v1"' ? {status: 304, headers: {etag: '"v1"'}, body: ''} : {headers: {etag: '"v1"'}, body: '{"version":1}'},
				},
			);
			const url = `${server.url}/objects/1`;
			expect(await client.read(url, {tag: 'r1'})).toMatchObject({status: 200, text: '{"version":1}'});
			expect(await client.read(url, {tag: 'r2'})).toMatchObject({status: 200, text: '{"version":1}'});
			const [first, second] = server.matching({method: 'GET'});
			expect(first!.headers['if-none-match']).toBeUndefined();
			expect(second!.headers['if-none-match']).toBe('"v1"');
		},
	},
	{
		id: 'coalesce',
		title: 'with `coalesce: true` identical concurrent GETs reach the server once and both callers get the body',
		notApplicable: {
			update: "update()'s read runs under the write lane, one at a time: there are no concurrent reads to merge",
			ky: "ky owns each call's life (its timeout, its retries, its hooks) and sends its own request: a coalesced call would have to adopt another call's whole life",
		},
		async run(entry) {
			const {server, client} = await setup(entry, {...base, coalesce: true}, {hold: () => true});
			const url = `${server.url}/objects/1`;
			// The same URL and credentials; the tag header alone would make them different requests.
			const read = () => handled(client.read(url, {tag: 'r'}));
			const first = read();
			const second = read();
			const held = await server.arrival({method: 'GET'});
			await quiet();
			expect(server.matching({method: 'GET'})).toHaveLength(1);
			held.answer({body: '{"shared":true}'});
			expect((await first).text).toBe('{"shared":true}');
			expect((await second).text).toBe('{"shared":true}');
		},
	},
	{
		id: 'supersede',
		title: 'with `supersede: true` a PUT queued right behind another PUT of the same URL is replaced by it',
		notApplicable: {
			update: "update() builds its PUT inside the lane from a fresh read: there is no queued PUT to replace, and dropping one would drop that read's changes",
			ky: "a superseded ky call would have to take a later call's response after that call's own hooks and retries, which ky runs per call",
		},
		async run(entry) {
			const {server, client} = await setup(entry, {...base, supersede: true}, {hold: arrival => arrival.mutating});
			const url = `${server.url}/objects/1`;
			const a = handled(client.write(url, {n: 1}, {tag: 'a'}));
			const first = await server.arrival({tag: 'a', mutating: true});
			const b = handled(client.write(url, {n: 2}, {tag: 'b'}));
			const c = handled(client.write(url, {n: 3}, {tag: 'c'}));
			first.answer();
			await a;
			await server.until('a second write', () => server.matching({mutating: true}).length === 2);
			const second = server.matching({mutating: true})[1]!;
			expect(second.tag).toBe('c');
			second.answer({body: '{"winner":"c"}'});
			const replaced = await b;
			expect(replaced.text).toBe('{"winner":"c"}');
			expect(isSuperseded(replaced.response)).toBe(true);
			expect((await c).text).toBe('{"winner":"c"}');
			expect(server.writes()).toEqual(['a', 'c']);
		},
	},
	{
		id: 'capacities',
		title: 'capacities(): PATCH /object writes to one object id (in the body) are serialized, other objects run alongside',
		async run(entry) {
			const objects = new Map<string, unknown>();
			const {server, client} = await setup(
				entry,
				{...base, keys: capacities()},
				{
					hold: arrival => arrival.mutating,
					reply(arrival) {
						const id = new URL(arrival.url, 'http://x').searchParams.get('id');
						return arrival.method === 'GET' ? {body: JSON.stringify(objects.get(id ?? '') ?? {id, properties: {}})} : {};
					},
				},
			);
			const patch = (id: string, tag: string) =>
				handled(
					client.write(
						`${server.url}/object`,
						{id, properties: {title: {type: 'text', text: tag}}},
						{tag, method: 'PATCH', readUrl: `${server.url}/object?id=${id}`},
					),
				);
			const a = patch('object-1', 'a');
			const b = patch('object-1', 'b');
			const other = patch('object-2', 'other');
			const first = await server.arrival({tag: 'a', mutating: true});
			const alongside = await server.arrival({tag: 'other', mutating: true});
			await quiet();
			// Same path, different objects: only the body tells them apart.
			expect(server.matching({tag: 'b'})).toEqual([]);
			first.answer();
			alongside.answer();
			await Promise.all([a, other]);
			(await server.arrival({tag: 'b', mutating: true})).answer();
			await b;
			const writesTo = (id: string) =>
				server
					.matching({mutating: true})
					.filter(arrival => (JSON.parse(arrival.body) as {id?: string}).id === id)
					.map(arrival => `${arrival.method} ${arrival.url} ${arrival.tag}`);
			expect(writesTo('object-1')).toEqual(['PATCH /object a', 'PATCH /object b']);
			expect(writesTo('object-2')).toEqual(['PATCH /object other']);
		},
	},
];

/* ------------------------------------------------------------------------------------------------ */
/* The matrix                                                                                        */

const titleOf = (scenario: Scenario, entry: Entry) => (typeof scenario.title === 'string' ? scenario.title : scenario.title(entry));
const pairs = entries.flatMap(entry => scenarios.map(scenario => ({entry, scenario, pair: `${entry.name}:${scenario.id}`})));

describe.each(entries)('$name', entry => {
	for (const scenario of scenarios) {
		// A pair that does not apply is not run; the test below pins which pairs these are, and the README says why.
		if (scenario.notApplicable?.[entry.name] === undefined) {
			test(`${scenario.id}: ${titleOf(scenario, entry)}`, async () => scenario.run(entry));
		}
	}
});

test('the pairs that are not applicable are exactly the documented ones', () => {
	expect(pairs.filter(({entry, scenario}) => scenario.notApplicable?.[entry.name] !== undefined).map(({pair}) => pair)).toEqual([
		'ky:coalesce',
		'ky:supersede',
		'update:cache',
		'update:coalesce',
		'update:supersede',
	]);
});

test('the three entry points share one lane per resource: a fetch, a ky call and an update() of one Capacities object run in call order', async () => {
	const server = await recordingServer({
		hold: arrival => arrival.mutating,
		reply: arrival => (arrival.method === 'GET' ? {body: '{"id":"object-1","properties":{}}'} : {}),
	});
	const lanes = createLanes({...base, keys: capacities()});
	onTestFinished(async () => closeAll(server, lanes));
	const [viaFetch, viaKy, viaUpdate] = entries.map(entry => entry.bind(lanes));
	const body = (tag: string) => ({id: 'object-1', properties: {title: {type: 'text', text: tag}}});
	const options = (tag: string) => ({tag, method: 'PATCH' as const, readUrl: `${server.url}/object?id=object-1`});
	const calls = [
		handled(viaUpdate!.write(`${server.url}/object`, body('update'), options('update'))),
		handled(viaFetch!.write(`${server.url}/object`, body('fetch'), options('fetch'))),
		handled(viaKy!.write(`${server.url}/object`, body('ky'), options('ky'))),
	];
	for (const tag of ['update', 'fetch', 'ky']) {
		const held = await server.arrival({tag, mutating: true});
		await quiet();
		expect(server.inFlight).toBe(1);
		held.answer();
	}

	await Promise.all(calls);
	expect(server.writes()).toEqual(['update', 'fetch', 'ky']);
	expect(server.maxWritesInFlightPerPath).toBe(1);
});
