import {sleep} from '../core/clock.js';
import {invalid} from '../core/describe.js';
import type {Engine, LaneContext} from '../core/engine.js';
import type {LaneRequest} from '../keys/types.js';
import {ConflictError, HttpError, type Reply} from '../errors/errors.js';
import {scrubJson, secretsOf} from '../errors/redact.js';
import {formatKey} from '../errors/writelane-error.js';
import {defaultKey, normalizeUrl} from '../keys/normalize.js';
import {toLaneRequest, toRequest} from '../keys/request.js';
import {isConflict, readReplyBody, versionOf} from '../occ/conflict.js';
import {handleUncertain} from '../occ/uncertain.js';
import type {FetchFeatures} from './fetch.js';
import {type FetchLike, type HttpDeps, InFlightFailure, send, summarize} from './http.js';
import {encodeWriteBody, readJsonBody} from './json-body.js';

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
	/** Headers for both requests (e.g. `Authorization`); `content-type: application/json` is added to the write. */
	readonly headers?: HeadersInit | undefined;
	/**
	Send the version read as the write's precondition: `If-Match` with the read's strong `ETag`, or
	the preset's version field. A conflict answer then re-reads and re-applies `mutate`. `false`
	writes unconditionally (last write wins against clients outside these lanes).
	@default true
	*/
	readonly precondition?: boolean | undefined;
	/**
	Read-mutate-write attempts before giving up with `ConflictError`.
	@default 5
	*/
	readonly attempts?: number | undefined;
	/**
	Delay before attempt `n + 1` after a conflict on attempt `n`, in ms.
	@default full jitter up to 50 * 2 ** (n - 1), at most 1000
	*/
	readonly conflictBackoff?: ((attempt: number) => number) | undefined;
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

const defaultConflictBackoff = (attempt: number) => Math.round(Math.random() * Math.min(1000, 50 * 2 ** (attempt - 1)));

/**
Read-modify-write under one hold of the resource's write lane: GET, `mutate`, write. Concurrent
`update()`s of one resource through the same lanes apply one after another. Where the API versions
its resources, the write carries the version read as a precondition, and a conflict (someone outside
these lanes wrote in between) re-reads and re-applies `mutate`, all inside the lane.
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

	const {method = 'PATCH', headers, signal, precondition = true, attempts = 5, conflictBackoff = defaultConflictBackoff} = options;
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

	const task = async (context: LaneContext): Promise<UpdateResult<W | T>> => {
			let lastReply: Reply | undefined;
			for (let attempt = 1; attempt <= attempts; attempt++) {
				const current = await send(deps, fetchImpl, read, {context, summary: readSummary, laneRequest}).catch(unwrap);
				if (!current.ok) {
					current.body?.cancel().catch(() => undefined);
					throw new HttpError(current.status, `${readSummary.method} ${readSummary.url}`, {key: keys});
				}

				const etag = current.headers.get('etag');
				const state = (await readJsonBody(current, read, keys)) as T;
				const next = await mutate(state, {signal, attempt});
				if (next === undefined) {
					return {value: state, written: false, response: current, attempts: attempt};
				}

				const writeHeaders = new Headers(headers);
				writeHeaders.set('content-type', 'application/json');
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
					throw await handleUncertain(
						features.uncertain,
						{
							keys: context.keys,
							async verify() {
								const again = await send(deps, fetchImpl, read, {context, summary: readSummary, laneRequest}).catch(unwrap);
								const after = versionOf(again.headers.get('etag'), await again.json().catch(() => undefined), versioning);
								return before === undefined || after === undefined ? undefined : before !== after;
							},
							failQueued(reason) {
								engine.failQueued(context.keys, reason);
							},
						},
						error.error,
						write.signal,
					);
				}

				if (response.ok) {
					return {value: next, written: true, response, attempts: attempt};
				}

				const replyBody = await readReplyBody(response);
				if (!precondition || !isConflict(response.status, replyBody, preset)) {
					throw new HttpError(response.status, `${writeSummary.method} ${writeSummary.url}`, {key: keys});
				}

				lastReply = {status: response.status, body: scrubJson(replyBody, secretsOf(write.headers, write.url))};
				if (deps.emitter.active) {
					deps.emitter.emit({
						type: 'retry',
						id: context.id,
						keys: context.keys,
						kind: 'write',
						request: writeSummary,
						attempt,
						delayMs: 0,
						status: response.status,
					});
				}

				if (attempt < attempts) {
					await sleep(conflictBackoff(attempt), signal);
				}
			}

			throw new ConflictError(
				`Lane ${formatKey(keys.length === 1 ? keys[0] : keys)}: the write still conflicted after ${attempts} read-modify-write attempts (last answer ${lastReply?.status})`,
				{key: keys, attempts, reply: lastReply},
			);
	};

	return new Promise((resolve, reject) => {
		deps.admission.admit(place, () => {
			engine.run(keys, 'write', task, {signal}, readSummary).then(resolve, reject);
		});
	});
}
