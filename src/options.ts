import type {LockBackend} from './core/backend.js';
import type {RateLimit} from './core/limiter.js';
import {describe, fields, invalid, rejectUnknown} from './errors/describe.js';
import type {CacheOptions, CacheSettings} from './http/etag-cache.js';
import type {RetryOptions, RetryPolicy} from './http/retry.js';
import type {KeysOption} from './keys/types.js';
import {defaultConflictBackoff} from './occ/contention.js';
import type {UncertainOptions, UncertainPolicy} from './occ/uncertain.js';
import type {PacerOptions, PacerSettings} from './pacing/pacer.js';

/*
Every default of the package lives here, in `defaults`, and the functions that turn options into
checked, complete settings. The parts receive those settings (or read `defaults`) and hard-code none.
This module imports the parts' types only, plus `defaultConflictBackoff` from occ/contention.ts (which
imports nothing), so any part may import it without a cycle.
*/

function freeze<T>(value: T): T {
	if (typeof value === 'object' && value !== null) {
		for (const item of Object.values(value)) {
			freeze(item);
		}

		Object.freeze(value);
	}

	return value;
}

/** Every default, by the option it belongs to. Frozen. */
export const defaults = freeze({
	/** `createLanes()` options (see `LanesOptions`). */
	lanes: {
		reads: 'parallel',
		concurrency: Number.POSITIVE_INFINITY,
		rateLimit: false,
		maxQueuePerKey: false,
		queueTimeout: false,
		cache: false,
		coalesce: false,
		supersede: false,
		idempotencyKeys: false,
		/**
		Probing costs one round trip per bucket, once; without it a batch that starts at once sends
		everything before the first answer shows the quota, and all over it comes back 429
		(docs/benchmarks.md, "Rate limits that follow the server", has the measurements).
		*/
		pacing: true,
	},
	/** The header of `idempotencyKeys: true` (or `{}`). */
	idempotencyHeader: 'Idempotency-Key',
	/** `RetryOptions`. */
	retry: {
		limit: 2,
		methods: ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'],
		statusCodes: [429, 502, 503, 504],
		networkErrors: true,
		backoff: {base: 300, max: 10_000},
		maxRetryAfter: 60_000,
	},
	/** `PacerOptions` (`pacing: true` is all of these). */
	pacing: {mode: 'burst', probe: true, maxBuckets: 1000, maxWait: 3_600_000},
	/** `CacheOptions` (`cache: true` is all of these). */
	cache: {maxEntries: 500, maxBodyBytes: 1_048_576},
	/** `UncertainOptions`. */
	uncertain: {policy: 'settle', graceMs: 1000},
	/** `UpdateOptions`, per `lanes.update()` call. */
	update: {method: 'PATCH', precondition: true, attempts: 12, conflictBackoff: defaultConflictBackoff},
	/** `MemoryBackendOptions`. */
	memoryBackend: {shared: false},
	/** `RedisBackendOptions`; `commandTimeout` is `Math.min(maxCommandTimeout, leaseMs / 2)`. */
	redisBackend: {prefix: 'writelane:', leaseMs: 10_000, maxCommandTimeout: 2000, restartGrace: true},
	/** `BatchOptions`. */
	batch: {onFailure: 'skip', window: 1000},
	/** The presets' options (`CapacitiesOptions`, `KubernetesOptions`, …). */
	presets: {
		capacities: {blockOwners: 10_000},
		kubernetes: {groups: false},
		notion: {blockOwners: 10_000},
		rekord: {basePath: '/', collections: ['records']},
		square: {conflictCodes: ['VERSION_MISMATCH', 'CONFLICT']},
	},
} as const);

/** Options of `createLanes()`. All optional; the defaults suit an automation script against one API. */
export type LanesOptions = {
	/**
	How a request maps to lane keys: a rule function `(request) => key | key[] | undefined`, a list of
	URL patterns (`['/objects/:id/**']`), or a preset (`capacities()`).
	@default host + normalized path of the URL (query ignored), tree-aware
	*/
	readonly keys?: KeysOption | undefined;
	/**
	`'parallel'`: reads never wait and never block writes (what last-write-wins APIs call safe).
	`'shared'`: reader-writer lanes: a read waits for the writes queued before it on its key (and
	blocks the writes queued after it), so a script reads its own writes.
	@default 'parallel'
	*/
	readonly reads?: 'parallel' | 'shared' | undefined;
	/**
	Requests in flight at once across all lanes. Taken only once an operation holds its lane.
	@default Infinity
	*/
	readonly concurrency?: number | undefined;
	/**
	Requests started per window across all lanes (sliding window), e.g. `{limit: 5, interval: 1000}`.
	Left out (`undefined`), the preset's published limit applies (`notion()`: 3 per second); `false`
	turns it off, a preset's limit included.
	@default the preset's published `rateLimit`, else `false`
	*/
	readonly rateLimit?: RateLimit | false | undefined;
	/**
	Retry policy of `fetch`/`wrapFetch`/`update` requests, applied inside the lane: a retry always
	happens before the next write of its lane. A number is the retry limit; `false` turns retries off.
	@default {limit: 2} (429, 502, 503, 504 and network errors; see `RetryOptions`)
	*/
	readonly retry?: RetryOptions | number | false | undefined;
	/**
	Operations that may wait on one key; one more rejects with `QueueFullError` and nothing is queued.
	@default false (unbounded)
	*/
	readonly maxQueuePerKey?: number | false | undefined;
	/**
	Milliseconds an operation may wait for its lane (not counting the time it runs); then it leaves the
	queue and rejects with `LaneTimeoutError`.
	@default false
	*/
	readonly queueTimeout?: number | false | undefined;
	/**
	Where locks live: `memoryBackend()` (this process) or `redisBackend()` (many processes).
	@default memoryBackend()
	*/
	readonly backend?: LockBackend | undefined;
	/**
	The fetch that `lanes.fetch` and `update()` use.
	@default globalThis.fetch (looked up at each call)
	*/
	readonly fetch?: typeof globalThis.fetch | undefined;
	/**
	Keep GET responses that carry an `ETag` and revalidate them with `If-None-Match`; a `304` is
	answered from memory. Bounded (`{maxEntries, maxBodyBytes}`), per instance.
	@default false
	*/
	readonly cache?: boolean | CacheOptions | undefined;
	/**
	Identical GETs in flight at the same time (same URL and credentials) share one request; each caller
	gets its own readable response, and an abort only detaches that caller. Needs `reads: 'parallel'`.
	@default false
	*/
	readonly coalesce?: boolean | undefined;
	/**
	What the lane does after a write failed in transit, or was aborted or timed out by its caller after
	it was sent, and may still be applied: `'settle'` (hold the lane `graceMs` longer), `'verify'`
	(re-read it), `'fail'` (reject the key's queued writes). The caller gets an `UncertainOutcomeError`.
	@default {policy: 'settle', graceMs: 1000}
	*/
	readonly uncertain?: UncertainOptions | undefined;
	/**
	A PUT queued right behind another PUT of the same URL (nothing else in between) replaces it: only the
	last is sent, and the callers of the replaced ones get a clone of its response (`isSuperseded()`).
	@default false
	*/
	readonly supersede?: boolean | undefined;
	/**
	Give POST and PATCH requests an idempotency key (the header named here, `Idempotency-Key` for
	`true`, or the preset's body field such as Square's `idempotency_key`), stable across retries, and
	retry them like idempotent requests.
	@default false
	*/
	readonly idempotencyKeys?: boolean | {readonly header?: string} | undefined;
	/**
	Follow the server's rate-limit headers (`RateLimit`, `RateLimit-*`, `X-RateLimit-*`) per bucket, so
	that requests never run into the quota. `rateLimit` stays a hard ceiling on top. `mode: 'burst'`
	sends what the server says is left at once and waits for its reset only when that is spent;
	`'spread'` spaces requests evenly over the window instead. `probe` holds the other requests of a
	bucket the pacer knows nothing about until the first answer shows its quota (one round trip, once
	per bucket), so a batch that starts all at once cannot overrun it. `maxWait` bounds how long a
	request is held for a used-up quota (longer: `RateLimitError` at once).
	@default true ({mode: 'burst', probe: true, maxBuckets: 1000, maxWait: 3_600_000})
	*/
	readonly pacing?: boolean | PacerOptions | undefined;
};

export type NormalizedOptions = {
	readonly keys: KeysOption | undefined;
	readonly reads: 'parallel' | 'shared';
	readonly concurrency: number;
	readonly rateLimit: RateLimit | undefined;
	readonly retry: RetryPolicy;
	readonly maxQueuePerKey: number;
	readonly queueTimeout: number | false;
	readonly backend: LockBackend | undefined;
	readonly fetch: typeof globalThis.fetch | undefined;
	readonly cache: CacheOptions | undefined;
	readonly coalesce: boolean;
	readonly uncertain: UncertainPolicy;
	readonly supersede: boolean;
	readonly idempotencyHeader: string | undefined;
	readonly pacing: PacerOptions | undefined;
};

const known = new Set([
	'keys',
	'reads',
	'concurrency',
	'rateLimit',
	'retry',
	'maxQueuePerKey',
	'queueTimeout',
	'backend',
	'fetch',
	'cache',
	'coalesce',
	'uncertain',
	'supersede',
	'idempotencyKeys',
	'pacing',
]);

type BackoffOptions = Exclude<NonNullable<RetryOptions['backoff']>, (attempt: number) => number>;
type UncertainObject = Exclude<UncertainOptions, string>;
type IdempotencyObject = Exclude<NonNullable<LanesOptions['idempotencyKeys']>, boolean>;

const nested = {
	rateLimit: fields<RateLimit>({limit: true, interval: true}),
	retry: fields<RetryOptions>({limit: true, methods: true, statusCodes: true, networkErrors: true, backoff: true, maxRetryAfter: true}),
	'retry.backoff': fields<BackoffOptions>({base: true, max: true}),
	cache: fields<CacheOptions>({maxEntries: true, maxBodyBytes: true}),
	uncertain: fields<UncertainObject>({policy: true, graceMs: true}),
	idempotencyKeys: fields<IdempotencyObject>({header: true}),
	pacing: fields<PacerOptions>({mode: true, probe: true, maxBuckets: true, maxWait: true}),
} as const;

function isPlainObject(value: unknown): value is object {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Unknown names inside the object-valued options, checked before their values are. */
function rejectUnknownNested(options: LanesOptions): void {
	for (const option of ['rateLimit', 'retry', 'cache', 'uncertain', 'idempotencyKeys', 'pacing'] as const) {
		const value: unknown = options[option];
		if (isPlainObject(value)) {
			rejectUnknown(option, value, nested[option]);
		}
	}

	const backoff: unknown = isPlainObject(options.retry) ? (options.retry as RetryOptions).backoff : undefined;
	if (isPlainObject(backoff)) {
		rejectUnknown('retry.backoff', backoff, nested['retry.backoff']);
	}
}

function boolean(option: string, value: unknown): boolean {
	if (typeof value !== 'boolean') {
		throw invalid(option, 'a boolean', value);
	}

	return value;
}

/** The one place defaults live. The caller's object is read, never changed. */
export function normalizeOptions(options: LanesOptions | undefined): NormalizedOptions {
	if (options === undefined) {
		options = {};
	} else if (typeof options !== 'object' || options === null || Array.isArray(options)) {
		throw invalid('options', 'an object', options);
	}

	for (const name of Object.keys(options)) {
		if (!known.has(name)) {
			throw new TypeError(`Unknown option \`${name}\`; known options: ${[...known].join(', ')}`);
		}
	}

	rejectUnknownNested(options);

	const {
		reads = defaults.lanes.reads,
		concurrency = defaults.lanes.concurrency,
		rateLimit = defaults.lanes.rateLimit,
		maxQueuePerKey = defaults.lanes.maxQueuePerKey,
		queueTimeout = defaults.lanes.queueTimeout,
	} = options;
	if (reads !== 'parallel' && reads !== 'shared') {
		throw invalid('reads', "`'parallel'` or `'shared'`", reads);
	}

	if (!(concurrency === Number.POSITIVE_INFINITY || (Number.isInteger(concurrency) && concurrency >= 1))) {
		throw invalid('concurrency', 'an integer >= 1 or Infinity', concurrency);
	}

	if (rateLimit !== false) {
		if (typeof rateLimit !== 'object' || rateLimit === null) {
			throw invalid('rateLimit', 'an object `{limit, interval}` or `false`', rateLimit);
		}

		if (!Number.isInteger(rateLimit.limit) || rateLimit.limit < 1) {
			throw invalid('rateLimit.limit', 'an integer >= 1', rateLimit.limit);
		}

		if (typeof rateLimit.interval !== 'number' || !Number.isFinite(rateLimit.interval) || rateLimit.interval <= 0) {
			throw invalid('rateLimit.interval', 'a finite number of milliseconds > 0', rateLimit.interval);
		}
	}

	if (maxQueuePerKey !== false && !(Number.isInteger(maxQueuePerKey) && maxQueuePerKey >= 1)) {
		throw invalid('maxQueuePerKey', 'an integer >= 1 or `false`', maxQueuePerKey);
	}

	if (queueTimeout !== false && !(typeof queueTimeout === 'number' && Number.isFinite(queueTimeout) && queueTimeout >= 0)) {
		throw invalid('queueTimeout', 'a finite number of milliseconds >= 0 or `false`', queueTimeout);
	}

	const {backend, fetch} = options;
	if (backend !== undefined) {
		if (typeof backend !== 'object' || backend === null || typeof backend.name !== 'string') {
			throw invalid('backend', 'a lock backend such as `memoryBackend()`', backend);
		}

		if (!backend.inProcess && typeof backend.acquire !== 'function') {
			throw invalid('backend.acquire', 'a function', backend.acquire);
		}
	}

	if (fetch !== undefined && typeof fetch !== 'function') {
		throw invalid('fetch', 'a fetch function', fetch);
	}

	const {
		cache = defaults.lanes.cache,
		coalesce = defaults.lanes.coalesce,
		supersede = defaults.lanes.supersede,
		idempotencyKeys = defaults.lanes.idempotencyKeys,
		pacing = defaults.lanes.pacing,
	} = options;
	if (typeof pacing !== 'boolean' && (typeof pacing !== 'object' || pacing === null || Array.isArray(pacing))) {
		throw invalid('pacing', 'a boolean or `{mode, probe, maxBuckets, maxWait}`', pacing);
	}

	if (typeof cache !== 'boolean' && (typeof cache !== 'object' || cache === null)) {
		throw invalid('cache', 'a boolean or `{maxEntries, maxBodyBytes}`', cache);
	}

	if (boolean('coalesce', coalesce) && reads === 'shared') {
		throw new TypeError("`coalesce` needs `reads: 'parallel'`: in 'shared' mode a read must see the writes queued before it");
	}

	let idempotencyHeader: string | undefined;
	if (idempotencyKeys === true) {
		idempotencyHeader = defaults.idempotencyHeader;
	} else if (typeof idempotencyKeys === 'object' && idempotencyKeys !== null) {
		idempotencyHeader = idempotencyKeys.header ?? defaults.idempotencyHeader;
		if (typeof idempotencyHeader !== 'string' || !/^[!#$%&'*+.^_`|~\w-]+$/.test(idempotencyHeader)) {
			throw invalid('idempotencyKeys.header', 'a header name', idempotencyHeader);
		}
	} else if (idempotencyKeys !== false) {
		throw invalid('idempotencyKeys', 'a boolean or `{header}`', idempotencyKeys);
	}

	return {
		keys: options.keys,
		reads,
		concurrency,
		rateLimit: rateLimit === false ? undefined : {limit: rateLimit.limit, interval: rateLimit.interval},
		retry: normalizeRetry(options.retry),
		maxQueuePerKey: maxQueuePerKey === false ? Number.POSITIVE_INFINITY : maxQueuePerKey,
		queueTimeout,
		backend,
		fetch,
		cache: cache === true ? {} : cache === false ? undefined : cache,
		coalesce,
		uncertain: normalizeUncertain(options.uncertain),
		supersede: boolean('supersede', supersede),
		idempotencyHeader,
		pacing: pacing === true ? defaults.pacing : pacing === false ? undefined : {...defaults.pacing, ...pacing},
	};
}

/** `retry` as a checked, complete policy; a number is the limit, `false` no retries. */
export function normalizeRetry(value: RetryOptions | number | false | undefined): RetryPolicy {
	const options: RetryOptions = value === undefined ? {} : value === false ? {limit: 0} : typeof value === 'number' ? {limit: value} : value;
	if (typeof options !== 'object' || options === null) {
		throw invalid('retry', 'an object, a number or `false`', value);
	}

	const limit = options.limit ?? defaults.retry.limit;
	if (!Number.isInteger(limit) || limit < 0) {
		throw invalid('retry.limit', 'an integer >= 0', limit);
	}

	const methods = options.methods ?? defaults.retry.methods;
	if (!Array.isArray(methods) || methods.some(method => typeof method !== 'string' || method === '')) {
		throw invalid('retry.methods', 'an array of method names', methods);
	}

	const statusCodes = options.statusCodes ?? defaults.retry.statusCodes;
	if (!Array.isArray(statusCodes) || statusCodes.some(code => !Number.isInteger(code) || code < 100 || code > 599)) {
		throw invalid('retry.statusCodes', 'an array of HTTP status codes', statusCodes);
	}

	const networkErrors = options.networkErrors ?? defaults.retry.networkErrors;
	if (typeof networkErrors !== 'boolean') {
		throw invalid('retry.networkErrors', 'a boolean', networkErrors);
	}

	const maxRetryAfter = options.maxRetryAfter ?? defaults.retry.maxRetryAfter;
	if (maxRetryAfter !== false && (typeof maxRetryAfter !== 'number' || !(maxRetryAfter >= 0))) {
		throw invalid('retry.maxRetryAfter', 'a number >= 0 or `false`', maxRetryAfter);
	}

	return {
		limit,
		methods: new Set(methods.map(method => method.toUpperCase())),
		statusCodes: new Set(statusCodes),
		networkErrors,
		backoff: normalizeBackoff(options.backoff),
		maxRetryAfter: maxRetryAfter === false ? Number.POSITIVE_INFINITY : maxRetryAfter,
	};
}

function normalizeBackoff(backoff: RetryOptions['backoff']): (attempt: number) => number {
	if (typeof backoff === 'function') {
		return attempt => {
			const ms = backoff(attempt);
			if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
				throw new TypeError(`Expected \`retry.backoff()\` to return a finite number of milliseconds >= 0, got ${describe(ms)}`);
			}

			return ms;
		};
	}

	const {base = defaults.retry.backoff.base, max = defaults.retry.backoff.max} = backoff ?? {};
	if (typeof base !== 'number' || !Number.isFinite(base) || base < 0) {
		throw invalid('retry.backoff.base', 'a finite number of milliseconds >= 0', base);
	}

	if (typeof max !== 'number' || !Number.isFinite(max) || max < 0) {
		throw invalid('retry.backoff.max', 'a finite number of milliseconds >= 0', max);
	}

	// Full jitter: spreads retries of many lanes that failed together. The exponent stops where
	// `base * 2 ** n` could overflow to Infinity (and `0 * Infinity` to NaN) after a thousand attempts.
	return attempt => Math.round(Math.random() * Math.min(max, base * 2 ** Math.min(attempt - 1, 52)));
}

/** `uncertain` as a checked, complete policy. */
export function normalizeUncertain(value: UncertainOptions | undefined): UncertainPolicy {
	const options = value === undefined ? {policy: defaults.uncertain.policy} : typeof value === 'string' ? {policy: value} : value;
	if (typeof options !== 'object' || options === null) {
		throw invalid('uncertain', "`'settle'`, `'verify'`, `'fail'` or `{policy, graceMs}`", value);
	}

	const {policy, graceMs = defaults.uncertain.graceMs} = options;
	if (policy !== 'settle' && policy !== 'verify' && policy !== 'fail') {
		throw invalid('uncertain.policy', "`'settle'`, `'verify'` or `'fail'`", policy);
	}

	if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0) {
		throw invalid('uncertain.graceMs', 'a finite number of milliseconds >= 0', graceMs);
	}

	return {policy, graceMs};
}

/** Pacer options as checked, complete settings for `new Pacer()`. */
export function normalizePacing(options: PacerOptions = {}): PacerSettings {
	const {mode = defaults.pacing.mode, maxBuckets = defaults.pacing.maxBuckets, probe = defaults.pacing.probe, maxWait = defaults.pacing.maxWait} = options;
	if (mode !== 'burst' && mode !== 'spread') {
		throw invalid('pacing.mode', "`'burst'` or `'spread'`", mode);
	}

	if (!Number.isInteger(maxBuckets) || maxBuckets < 1) {
		throw invalid('pacing.maxBuckets', 'an integer >= 1', maxBuckets);
	}

	if (typeof probe !== 'boolean') {
		throw invalid('pacing.probe', 'a boolean', probe);
	}

	if (maxWait !== false && (typeof maxWait !== 'number' || !(maxWait >= 0))) {
		throw invalid('pacing.maxWait', 'a number of milliseconds >= 0 or `false`', maxWait);
	}

	return {mode, maxBuckets, probe, maxWait: maxWait === false ? Number.POSITIVE_INFINITY : maxWait};
}

/** Cache options as checked, complete settings for `new EtagCache()`. */
export function normalizeCache(options: CacheOptions): CacheSettings {
	const {maxEntries = defaults.cache.maxEntries, maxBodyBytes = defaults.cache.maxBodyBytes} = options;
	if (!Number.isInteger(maxEntries) || maxEntries < 1) {
		throw invalid('cache.maxEntries', 'an integer >= 1', maxEntries);
	}

	if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
		throw invalid('cache.maxBodyBytes', 'an integer >= 0', maxBodyBytes);
	}

	return {maxEntries, maxBodyBytes};
}
