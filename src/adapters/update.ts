import {invalid} from '../core/describe.js';
import type {Engine} from '../core/engine.js';
import {HttpError} from '../errors/errors.js';
import {defaultKey} from '../keys/normalize.js';
import {toLaneRequest} from '../keys/request.js';
import {type FetchLike, type HttpDeps, send, summarize} from './http.js';

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
	/** Whether a write was sent. */
	readonly written: boolean;
	/** The write's response (or the read's, when nothing was written). Its body is unread. */
	readonly response: Response;
};

/** `mutate` gets the parsed JSON and returns the new state, or `undefined` to write nothing. */
export type Mutate<T> = (current: T, context: {readonly signal: AbortSignal | undefined}) => T | undefined | Promise<T | undefined>;

/**
Read-modify-write under one hold of the resource's write lane: GET, `mutate`, write. Concurrent
`update()`s of one resource through the same lanes (or the same Redis backend) apply one after
another, so none overwrites another's change.
*/
export async function update<T>(
	engine: Engine,
	deps: HttpDeps,
	defaultFetch: FetchLike,
	url: string | URL,
	mutate: Mutate<T>,
	options: UpdateOptions = {},
): Promise<UpdateResult<T>> {
	if (typeof mutate !== 'function') {
		throw invalid('mutate', 'a function', mutate);
	}

	const {method = 'PATCH', headers, signal} = options;
	if (method !== 'PATCH' && method !== 'PUT' && method !== 'POST') {
		throw invalid('method', "`'PATCH'`, `'PUT'` or `'POST'`", method);
	}

	if (options.fetch !== undefined && typeof options.fetch !== 'function') {
		throw invalid('fetch', 'a fetch function', options.fetch);
	}

	const fetchImpl: FetchLike = options.fetch ? request => options.fetch!(request) : defaultFetch;
	const read = new Request(url, {method: 'GET', headers: headers ?? {}, signal: signal ?? null});
	const laneRequest = await toLaneRequest(read, false);
	const resolved = deps.keys.resolve(laneRequest);
	// Holding no lane would make the read-modify-write unguarded; fall back to the URL's own key.
	const keys = resolved.keys.length > 0 ? resolved.keys : [defaultKey(laneRequest.url)];
	const readSummary = summarize(read);

	return engine.run(
		keys,
		'write',
		async context => {
			const current = await send(deps, fetchImpl, read, {context, summary: readSummary, laneRequest});
			if (!current.ok) {
				current.body?.cancel().catch(() => undefined);
				throw new HttpError(current.status, `${readSummary.method} ${readSummary.url}`, {key: keys});
			}

			const state = (await current.json()) as T;
			const next = await mutate(state, {signal});
			if (next === undefined) {
				return {value: state, written: false, response: current};
			}

			const writeHeaders = new Headers(headers);
			writeHeaders.set('content-type', 'application/json');
			const write = new Request(options.writeUrl ?? url, {method, headers: writeHeaders, body: JSON.stringify(next), signal: signal ?? null});
			const writeSummary = summarize(write);
			const response = await send(deps, fetchImpl, write, {context, summary: writeSummary});
			if (!response.ok) {
				response.body?.cancel().catch(() => undefined);
				throw new HttpError(response.status, `${writeSummary.method} ${writeSummary.url}`, {key: keys});
			}

			return {value: next, written: true, response};
		},
		{signal},
		readSummary,
	);
}
