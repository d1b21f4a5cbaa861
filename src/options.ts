import type {KeysOption} from './keys/types.js';
import type {LockBackend} from './core/backend.js';
import {fields, invalid, rejectUnknown} from './errors/describe.js';
import type {RateLimit} from './core/limiter.js';
import {normalizeRetry, type RetryOptions, type RetryPolicy} from './http/retry.js';
import type {CacheOptions} from './http/etag-cache.js';
import type {PacerOptions} from './pacing/pacer.js';
import {normalizeUncertain, type UncertainOptions, type UncertainPolicy} from './occ/uncertain.js';

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
	@default false
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

/**
`pacing: true`. Probing costs one round trip per bucket, once; without it a batch that starts at once
sends everything before the first answer shows the quota, and all over it comes back 429 (README,
"Rate limits that follow the server", has the measurements).
*/
const pacingDefaults: PacerOptions = {mode: 'burst', probe: true, maxBuckets: 1000, maxWait: 3_600_000};

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

	const {reads = 'parallel', concurrency = Number.POSITIVE_INFINITY, rateLimit = false, maxQueuePerKey = false, queueTimeout = false} = options;
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

	const {cache = false, coalesce = false, supersede = false, idempotencyKeys = false, pacing = true} = options;
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
		idempotencyHeader = 'Idempotency-Key';
	} else if (typeof idempotencyKeys === 'object' && idempotencyKeys !== null) {
		idempotencyHeader = idempotencyKeys.header ?? 'Idempotency-Key';
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
		pacing: pacing === true ? pacingDefaults : pacing === false ? undefined : {...pacingDefaults, ...pacing},
	};
}
