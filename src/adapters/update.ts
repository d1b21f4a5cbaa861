import {clock, sleep} from '../core/clock.js';
import type {LaneContext} from '../core/engine.js';
import type {RequestSummary} from '../core/events.js';
import {invalid} from '../errors/describe.js';
import {ConflictError, HttpError, type Reply} from '../errors/errors.js';
import {excerpt, scrubJson, secretsOf} from '../errors/redact.js';
import {formatKey} from '../errors/writelane-error.js';
import {attempt, emitRetry, InFlightFailure, summaryOf} from '../http/attempt.js';
import {encodeWriteBody, readJsonBody} from '../http/json-body.js';
import {type Outgoing, type Prepared, prepare, type Transport} from '../http/outgoing.js';
import type {Pipeline} from '../http/pipeline.js';
import {versionNow} from '../http/uncertain.js';
import {defaultKey, normalizeUrl} from '../keys/normalize.js';
import {toRequest} from '../keys/request.js';
import {isConflict, readReply, versionOf} from '../occ/conflict.js';
import type {ConflictBackoffContext} from '../occ/contention.js';
import {defaults} from '../options.js';

function unwrap(error: unknown): never {
	throw error instanceof InFlightFailure ? error.error : error;
}

/** Options of `lanes.update()`. */
export type UpdateOptions = {
	/**
	How the new state is written.
	@default 'PATCH'
	*/
	readonly method?: 'PATCH' | 'PUT' | 'POST' | undefined;
	/**
	Where the new state is written when it is not the URL it was read from (e.g. Capacities reads
	`GET /object?id=…` and writes `PATCH /object`).
	@default the URL read
	*/
	readonly writeUrl?: string | URL | undefined;
	/** Headers for both requests, the read and the write (e.g. `Authorization`). */
	readonly headers?: HeadersInit | undefined;
	/**
	Headers for the write only, on top of `headers` (a blob API's `x-ms-blob-type`, a patch media
	type). The write gets `content-type: application/json` unless one of the two sets a content type.
	@example
	```
	{writeHeaders: {'content-type': 'application/merge-patch+json'}}
	```
	*/
	readonly writeHeaders?: HeadersInit | undefined;
	/**
	Send the version read as the write's precondition: `If-Match` with the read's strong `ETag`, or
	the preset's version field. A conflict answer then re-reads and re-applies `mutate`. `false`
	writes unconditionally (last write wins against clients outside these lanes).
	@default true
	*/
	readonly precondition?: boolean | undefined;
	/**
	Read-mutate-write attempts before giving up with `ConflictError`. The default holds for two
	uncoordinated writers hammering one resource (`bench/conflict-race.js`).
	@default 12
	*/
	readonly attempts?: number | undefined;
	/**
	Delay before attempt `n + 1` after a conflict on attempt `n`, in ms. `context.roundTripMs` is how
	long attempt `n` took (read to conflict answer), `context.previousDelayMs` the delay before it.
	@default decorrelated jitter in round trips of the resource: uniform in [0, 1] round trip after the
	first conflict, then in [½, 3 × the previous delay], at most 4 round trips and 2 s
	*/
	readonly conflictBackoff?: ((attempt: number, context: ConflictBackoffContext) => number) | undefined;
	/**
	The fetch to use.
	@default the lanes instance's `fetch` option, else globalThis.fetch
	*/
	readonly fetch?: typeof globalThis.fetch | undefined;
	/** Aborts waiting for the lane, the read, `mutate` (it receives the signal) and the write. */
	readonly signal?: AbortSignal | undefined;
};

export type UpdateResult<T> = {
	/** The state written, or the state read when `mutate` returned `undefined`. */
	readonly value: T;
	/** Whether a write was sent and accepted. */
	readonly written: boolean;
	/** The write's response (or the read's, when nothing was written). Its body is unread. */
	readonly response: Response;
	/** Read-mutate-write attempts it took (more than 1 after conflicts). */
	readonly attempts: number;
};

/**
`mutate` gets the parsed JSON read (`T`) and returns what to write (`W`, by default the same shape),
or `undefined` to write nothing. It runs once per attempt, each time on a fresh read.
*/
export type Mutate<T, W = T> = (current: T, context: {readonly signal: AbortSignal | undefined; readonly attempt: number}) => W | undefined | Promise<W | undefined>;

/**
Read-modify-write under one hold of the resource's write lane: GET, `mutate`, write. Concurrent
`update()`s of one resource through the same lanes apply one after another. Where the API versions
its resources, the write carries the version read as a precondition, and a conflict (someone outside
these lanes wrote in between) re-reads and re-applies `mutate`, all inside the lane. Recovery is fair
between uncoordinated writers: see `occ/contention.ts`.
*/
export async function update<T, W = T>(
	pipeline: Pipeline,
	defaultTransport: Transport,
	url: string | URL,
	mutate: Mutate<T, W>,
	options: UpdateOptions = {},
): Promise<UpdateResult<T | W>> {
	if (typeof mutate !== 'function') {
		throw invalid('mutate', 'a function', mutate);
	}

	const {
		method = defaults.update.method,
		headers,
		signal,
		precondition = defaults.update.precondition,
		attempts = defaults.update.attempts,
		conflictBackoff = defaults.update.conflictBackoff,
	} = options;
	if (method !== 'PATCH' && method !== 'PUT' && method !== 'POST') {
		throw invalid('method', "`'PATCH'`, `'PUT'` or `'POST'`", method);
	}

	if (typeof precondition !== 'boolean') {
		throw invalid('precondition', 'a boolean', precondition);
	}

	if (!Number.isInteger(attempts) || attempts < 1) {
		throw invalid('attempts', 'an integer >= 1', attempts);
	}

	if (typeof conflictBackoff !== 'function') {
		throw invalid('conflictBackoff', 'a function', conflictBackoff);
	}

	if (options.fetch !== undefined && typeof options.fetch !== 'function') {
		throw invalid('fetch', 'a fetch function', options.fetch);
	}

	let writeOnly: Headers | undefined;
	if (options.writeHeaders !== undefined) {
		try {
			writeOnly = new Headers(options.writeHeaders);
		} catch {
			// The platform's message may quote a header value: a credential.
			throw invalid('writeHeaders', 'headers (a `Headers`, an array of name-value pairs or an object of strings)', typeof options.writeHeaders === 'string' ? '[string]' : options.writeHeaders);
		}
	}

	const transport: Transport = options.fetch ?? defaultTransport;
	const {deps, engine} = pipeline;
	const {preset} = deps.keys;
	const versioning = precondition ? preset?.versioning : undefined;
	const {contention} = pipeline.features;
	const readInit: RequestInit = {method: 'GET', headers: headers ?? {}};
	if (signal !== undefined) {
		readInit.signal = signal;
	}

	const ready = (read: Prepared) => {
		// Holding no lane would make the read-modify-write unguarded; fall back to the URL's own key.
		const {keys} = deps.keys.resolve(read.laneRequest);
		return {read, keys: keys.length > 0 ? keys : [defaultKey(read.laneRequest.url)]};
	};

	return pipeline.inOrder(
		() => {
			const read = prepare(url, readInit, {readsBody: false, builtIn: deps.keys.builtIn});
			if (options.writeUrl !== undefined) {
				// Refused now, not after the read inside the lane.
				normalizeUrl(toRequest(options.writeUrl).url);
			}

			return read instanceof Promise ? read.then(ready) : ready(read);
		},
		({read, keys}) => {
			const readSummary = summaryOf(read.laneRequest);
			const hotKey = keys.join('\n');

			const task = async (context: LaneContext, report: (error: unknown) => void): Promise<UpdateResult<W | T>> => {
				let lastReply: Reply | undefined;
				let previousDelayMs = 0;
				// A resource this instance saw contended: leave a writer in recovery a window (see occ/contention.ts).
				const courtesy = precondition ? contention.courtesy(hotKey, clock.now(), Math.random) : 0;
				if (courtesy > 0) {
					await sleep(courtesy, signal);
				}

				for (let number = 1; number <= attempts; number++) {
					const started = clock.now();
					const current = await attempt(deps, transport, read.outgoing, {context, laneRequest: read.laneRequest, summary: readSummary}).catch(unwrap);
					if (!current.ok) {
						throw await httpError(current, read.outgoing, readSummary, keys);
					}

					const etag = current.headers.get('etag');
					const state = (await readJsonBody(current, read.outgoing, readSummary, keys)) as T;
					const next = await mutate(state, {signal, attempt: number});
					if (next === undefined) {
						return {value: state, written: false, response: current, attempts: number};
					}

					const writeHeaders = new Headers(headers);
					for (const [name, value] of writeOnly ?? []) {
						writeHeaders.set(name, value);
					}

					if (!writeHeaders.has('content-type')) {
						writeHeaders.set('content-type', 'application/json');
					}

					let body: unknown = next;
					if (versioning?.type === 'field') {
						const version = versioning.read(state);
						if (version !== undefined) {
							body = versioning.write(next, version);
						}
					} else if (precondition && etag !== null && !etag.startsWith('W/') && !writeHeaders.has('if-match')) {
						// If-Match compares strongly (RFC 9110 §13.1.1): a weak tag would never match.
						writeHeaders.set('if-match', etag);
					}

					const writeInit: RequestInit = {method, headers: writeHeaders, body: encodeWriteBody(next, body)};
					if (signal !== undefined) {
						writeInit.signal = signal;
					}

					const write = await pipeline.keyed(await prepare(options.writeUrl ?? url, writeInit, deps.keys));
					const writeSummary = summaryOf(write.laneRequest);
					const response = await attempt(deps, transport, write.outgoing, {
						context,
						laneRequest: write.laneRequest,
						summary: writeSummary,
						idempotent: write.idempotent,
						onInFlight(failure) {
							const before = versionOf(write.outgoing.headers.get('if-match'), body, versioning);
							// The read again, without the caller's signal (it may be what aborted).
							const readBack: Prepared = {...read, outgoing: read.outgoing.with({signal: null})};
							return pipeline.uncertain(context, write, failure, transport, report, async () => {
								if (before === undefined) {
									return undefined;
								}

								const after = await versionNow(deps, transport, context, readBack);
								return after === undefined ? undefined : before !== after;
							});
						},
					});

					if (response.ok) {
						return {value: next, written: true, response, attempts: number};
					}

					const secrets = secretsOf(write.outgoing.headers, write.outgoing.url);
					const reply = await readReply(response);
					if (!precondition || !isConflict(response.status, reply.body, preset)) {
						throw new HttpError(response.status, `${writeSummary.method} ${writeSummary.url}`, {key: keys, excerpt: excerpt(reply.text, secrets)});
					}

					lastReply = {status: response.status, body: scrubJson(reply.body, secrets)};
					const roundTripMs = clock.now() - started;
					contention.conflict(hotKey, roundTripMs, clock.now());
					if (number === attempts) {
						break;
					}

					const delayMs = conflictBackoff(number, {roundTripMs, previousDelayMs});
					if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
						throw invalid('conflictBackoff()', 'a finite number of milliseconds >= 0', delayMs);
					}

					emitRetry(deps, context, writeSummary, {attempt: number, delayMs, status: response.status});
					previousDelayMs = delayMs;
					await sleep(delayMs, signal);
				}

				throw new ConflictError(
					`Lane ${formatKey(keys.length === 1 ? keys[0] : keys)}: the write still conflicted after ${attempts} read-modify-write attempts (last answer ${lastReply?.status})`,
					{key: keys, attempts, reply: lastReply},
				);
			};

			return new Promise<UpdateResult<T | W>>((resolve, reject) => {
				// An uncertain outcome reaches the caller at once (`reject`); the lane stays held for the policy.
				engine.run(keys, 'write', context => task(context, reject), {signal}, readSummary).then(resolve, reject);
			});
		},
	);
}

/** The `HttpError` for a non-2xx answer, with a scrubbed excerpt of its body. */
async function httpError(response: Response, request: Outgoing, summary: RequestSummary, keys: readonly string[]): Promise<HttpError> {
	const {text} = await readReply(response);
	return new HttpError(response.status, `${summary.method} ${summary.url}`, {key: keys, excerpt: excerpt(text, secretsOf(request.headers, request.url))});
}
