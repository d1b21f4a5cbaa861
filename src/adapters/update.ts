import {clock, sleep} from '../core/clock.js';
import {invalid} from '../errors/describe.js';
import type {Engine, LaneContext} from '../core/engine.js';
import type {LaneRequest} from '../keys/types.js';
import {ConflictError, HttpError, type Reply} from '../errors/errors.js';
import {excerpt, scrubJson, secretsOf} from '../errors/redact.js';
import {formatKey} from '../errors/writelane-error.js';
import {defaultKey, normalizeUrl} from '../keys/normalize.js';
import {toLaneRequest, toRequest} from '../keys/request.js';
import {isConflict, readReply, versionOf} from '../occ/conflict.js';
import type {ConflictBackoffContext} from '../occ/contention.js';
import {defaults} from '../options.js';
import type {FetchFeatures} from './fetch.js';
import {type FetchLike, type HttpDeps, InFlightFailure, send, summarize} from '../http/http.js';
import {encodeWriteBody, readJsonBody} from '../http/json-body.js';
import {failUncertain, versionNow} from '../http/uncertain.js';

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
	engine: Engine,
	deps: HttpDeps,
	features: FetchFeatures,
	defaultFetch: FetchLike,
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

	const fetchImpl: FetchLike = options.fetch ? request => options.fetch!(request) : defaultFetch;
	const place = deps.admission.reserve();
	let read: Request;
	let laneRequest: LaneRequest;
	let keys: readonly string[];
	try {
		read = toRequest(url, {method: 'GET', headers: headers ?? {}, signal: signal ?? null});
		if (options.writeUrl !== undefined) {
			// Refused now, not after the read inside the lane.
			normalizeUrl(toRequest(options.writeUrl).url);
		}
		laneRequest = await toLaneRequest(read, false);
		// A rule that throws must give the place back too, or every later call would wait behind it.
		const resolved = deps.keys.resolve(laneRequest);
		// Holding no lane would make the read-modify-write unguarded; fall back to the URL's own key.
		keys = resolved.keys.length > 0 ? resolved.keys : [defaultKey(laneRequest.url)];
	} catch (error) {
		deps.admission.release(place);
		throw error;
	}
	const readSummary = summarize(read);
	const {preset} = deps.keys;
	const versioning = precondition ? preset?.versioning : undefined;

	const {contention} = features;
	const hotKey = keys.join('\n');
	// The read again, without the caller's signal, for `uncertain: 'verify'` after the caller aborted.
	const readBack = (): Request => new Request(read, {signal: null});

	const task = async (context: LaneContext, report: (error: unknown) => void): Promise<UpdateResult<W | T>> => {
		let lastReply: Reply | undefined;
		let previousDelayMs = 0;
		// A resource this instance saw contended: leave a writer in recovery a window (see occ/contention.ts).
		const courtesy = precondition ? contention.courtesy(hotKey, clock.now(), Math.random) : 0;
		if (courtesy > 0) {
			await sleep(courtesy, signal);
		}

		for (let attempt = 1; attempt <= attempts; attempt++) {
			const started = clock.now();
			const current = await send(deps, fetchImpl, read, {context, summary: readSummary, laneRequest}).catch(unwrap);
			if (!current.ok) {
				throw await httpError(current, read, keys);
			}

			const etag = current.headers.get('etag');
			const state = (await readJsonBody(current, read, keys)) as T;
			const next = await mutate(state, {signal, attempt});
			if (next === undefined) {
				return {value: state, written: false, response: current, attempts: attempt};
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

			const write = new Request(options.writeUrl ?? url, {method, headers: writeHeaders, body: encodeWriteBody(next, body), signal: signal ?? null});
			const writeSummary = summarize(write);
			const writeLaneRequest = await toLaneRequest(write, deps.keys.readsBody);
			let response: Response;
			try {
				response = await send(deps, fetchImpl, write, {context, summary: writeSummary, laneRequest: writeLaneRequest});
			} catch (error) {
				if (!(error instanceof InFlightFailure)) {
					throw error;
				}

				const before = versionOf(write.headers.get('if-match'), body, versioning);
				return failUncertain({
					engine,
					policy: features.uncertain,
					context,
					failure: error,
					async verify() {
						if (before === undefined) {
							return undefined;
						}

						const after = await versionNow(deps, fetchImpl, context, readBack());
						return after === undefined ? undefined : before !== after;
					},
					report,
				});
			}

			if (response.ok) {
				return {value: next, written: true, response, attempts: attempt};
			}

			const reply = await readReply(response);
			if (!precondition || !isConflict(response.status, reply.body, preset)) {
				throw new HttpError(response.status, `${writeSummary.method} ${writeSummary.url}`, {key: keys, excerpt: excerpt(reply.text, secretsOf(write.headers, write.url))});
			}

			lastReply = {status: response.status, body: scrubJson(reply.body, secretsOf(write.headers, write.url))};
			const roundTripMs = clock.now() - started;
			contention.conflict(hotKey, roundTripMs, clock.now());
			if (attempt === attempts) {
				break;
			}

			const delayMs = conflictBackoff(attempt, {roundTripMs, previousDelayMs});
			if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
				throw invalid('conflictBackoff()', 'a finite number of milliseconds >= 0', delayMs);
			}

			if (deps.emitter.active) {
				deps.emitter.emit({
					type: 'retry',
					id: context.id,
					keys: context.keys,
					kind: 'write',
					request: writeSummary,
					attempt,
					delayMs,
					status: response.status,
				});
			}

			previousDelayMs = delayMs;
			await sleep(delayMs, signal);
		}

		throw new ConflictError(
			`Lane ${formatKey(keys.length === 1 ? keys[0] : keys)}: the write still conflicted after ${attempts} read-modify-write attempts (last answer ${lastReply?.status})`,
			{key: keys, attempts, reply: lastReply},
		);
	};

	return new Promise((resolve, reject) => {
		deps.admission.admit(place, () => {
			// An uncertain outcome reaches the caller at once (`reject`); the lane stays held for the policy.
			engine.run(keys, 'write', context => task(context, reject), {signal}, readSummary).then(resolve, reject);
		});
	});
}

/** The `HttpError` for a non-2xx answer, with a scrubbed excerpt of its body. */
async function httpError(response: Response, request: Request, keys: readonly string[]): Promise<HttpError> {
	const {method, url} = summarize(request);
	const {text} = await readReply(response);
	return new HttpError(response.status, `${method} ${url}`, {key: keys, excerpt: excerpt(text, secretsOf(request.headers, request.url))});
}
