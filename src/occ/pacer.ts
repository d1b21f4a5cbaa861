import {clock, type TimerHandle} from '../core/clock.js';
import {invalid} from '../core/describe.js';
import {parseRetryAfter} from '../core/retry.js';
import {RateLimitError} from '../errors/rate-limit.js';
import {parseRateLimit, type RateLimitInfo, retryAfterWins} from './rate-limit-headers.js';

/** Options of the pacer that follows the quota servers announce (`RateLimit`, `X-RateLimit-*`). */
export type PacerOptions = {
	/**
	Rate-limit buckets remembered at most; the least recently used idle one is forgotten first. A
	bucket with requests waiting is never forgotten. A bucket is also forgotten once its window has
	reset with nothing waiting or in flight.
	@default 1000
	*/
	readonly maxBuckets?: number;
	/**
	While the first request to a bucket the pacer knows nothing about is in flight, hold the others
	of that bucket until its answer shows the quota (one round trip, once). Without it, a batch that
	starts at once sends everything before the first answer arrives, quota or not. An answer without
	rate-limit fields frees the bucket for good: it is not paced.
	@default true
	*/
	readonly probe?: boolean;
	/**
	The longest the pacer holds a request for its bucket's quota to come back. A server may announce
	a wait far longer: a daily or monthly quota used up, or a garbage `Retry-After`. When a bucket has
	no quota left until later than this, its requests fail at once with `RateLimitError` (with the
	announced `retryAt`) and nothing is sent, instead of hanging for days. That announcement is
	believed for `maxWait` after the answer that made it; then one request asks the server again
	(the others wait for its answer), so a bucket never stays refused on stale or bogus news. A long
	window with quota left is spread over at most `maxWait`, not over the month. `false` holds
	requests for any announced wait, however long (`signal` still aborts them). Raise it too if you
	raise `retry.maxRetryAfter` above it: a retry that would wait longer is refused as well.
	@default 3_600_000 (an hour: the per-second to hourly windows APIs announce are waited for)
	*/
	readonly maxWait?: number | false;
};

type Waiter = {
	readonly resolve: () => void;
	readonly reject: (reason: unknown) => void;
	readonly signal: AbortSignal | undefined;
	readonly onAbort: () => void;
};

type Bucket = {
	readonly name: string;
	/** `probe`: no quota known, one request in flight at a time. `known`: paced. `free`: the server announces no quota. */
	mode: 'probe' | 'known' | 'free';
	limit: number | undefined;
	/** Window length: announced by a policy, or the longest reset seen. */
	window: number | undefined;
	remaining: number;
	/** When the current window ends, at the latest: the pacer waits for this. */
	resetAt: number;
	/** Bounds of the reset of the latest window an answer announced: tell answers from other windows apart. */
	earliestReset: number;
	latestReset: number;
	/** The answers merged since that window was announced: the latest reset any of them allows, and their lowest `remaining`. */
	tailReset: number;
	tailRemaining: number;
	/** The current window was assumed when the last one ended (a full `limit`), not announced yet. */
	assumed: boolean;
	/** A window just opened: the requests that waited for it start at once if they fit. */
	opened: boolean;
	/**
	Start times of the requests not answered yet, oldest first. They are not reflected in `remaining`,
	so they count against it. Answers cannot be matched to requests, so each one removes the newest:
	the oldest kept is then never later than the oldest really in flight.
	*/
	readonly inFlight: number[];
	/**
	When requests ended without an answer telling the quota (network error, or no rate-limit
	fields): an answer handled before them does not reflect them. Only those since the oldest
	request in flight started are kept: answers to later requests were handled after that.
	*/
	readonly losses: number[];
	/** When the last request of the current window started. */
	lastStart: number | undefined;
	/** Until when an announced wait longer than `maxWait` is believed (the last answer plus `maxWait`). */
	believedUntil: number;
	readonly waiters: Set<Waiter>;
	timer: TimerHandle | undefined;
};

/**
Spaces the requests of each rate-limit bucket so that the quota the server announces is never
exceeded. `wait()` before a request starts, `observe()` its answer (or its failure): every resolved
`wait()` must be matched by exactly one `observe()`, as a lock by its release, because a request
that started and was not answered yet is counted against `remaining`.

With `remaining` r after subtracting what is in flight and t ms until the reset, requests start
about t / r apart, so a batch slows down before it runs out instead of bouncing off 429s. After the
reset a new window of `limit` is assumed until an answer announces it. When a window opens, the
requests that waited for it start at once if they fit in it: they already waited, and spacing them
would only make the batch end later. Buckets are strings the caller derives (an origin, or an
origin and endpoint).
*/
export class Pacer {
	readonly #buckets = new Map<string, Bucket>();
	readonly #maxBuckets: number;
	readonly #probe: boolean;
	readonly #maxWait: number;

	constructor(options: PacerOptions = {}) {
		const {maxBuckets = 1000, probe = true, maxWait = 3_600_000} = options;
		if (!Number.isInteger(maxBuckets) || maxBuckets < 1) {
			throw invalid('pacing.maxBuckets', 'an integer >= 1', maxBuckets);
		}

		if (typeof probe !== 'boolean') {
			throw invalid('pacing.probe', 'a boolean', probe);
		}

		if (maxWait !== false && (typeof maxWait !== 'number' || !(maxWait >= 0))) {
			throw invalid('pacing.maxWait', 'a number of milliseconds >= 0 or `false`', maxWait);
		}

		this.#maxBuckets = maxBuckets;
		this.#probe = probe;
		this.#maxWait = maxWait === false ? Number.POSITIVE_INFINITY : maxWait;
	}

	/** Buckets remembered. */
	get size(): number {
		return this.#buckets.size;
	}

	/**
	Resolves when a request of `bucket` may start; at once for a bucket without a known quota.
	Rejects with `signal.reason` when `signal` aborts first, leaving no timer or listener behind, and
	with `RateLimitError` when the bucket has no quota left until later than `maxWait`.
	*/
	wait(bucket: string, signal?: AbortSignal): Promise<void> {
		if (typeof bucket !== 'string') {
			return Promise.reject(invalid('bucket', 'a string', bucket));
		}

		if (signal?.aborted) {
			return Promise.reject(signal.reason);
		}

		const now = clock.now();
		this.#sweep(now);
		let state = this.#get(bucket, now);
		if (state === undefined) {
			if (!this.#probe) {
				return Promise.resolve();
			}

			state = this.#add(bucket, unknown(bucket, 'probe'));
		}

		if (state.waiters.size === 0 && this.#startAt(state, now, 1) === now) {
			start(state, now);
			state.opened = false;
			return Promise.resolve();
		}

		const entry = state;
		return new Promise((resolve, reject) => {
			const waiter: Waiter = {
				resolve,
				reject,
				signal,
				onAbort: () => {
					entry.waiters.delete(waiter);
					reject(signal?.reason);
					// One fewer waiting may change the pace; with none left, this clears the timer.
					this.#drain(entry);
				},
			};
			entry.waiters.add(waiter);
			signal?.addEventListener('abort', waiter.onAbort, {once: true});
			this.#drain(entry);
		});
	}

	/**
	Learns `bucket`'s quota from the answer to a request that `wait()` let through, and counts that
	request as answered. `headers` is `undefined` when the request failed without an answer (network
	error, abort). A `Retry-After` next to rate-limit fields wins (see `retryAfterWins()`).
	*/
	observe(bucket: string, headers: Headers | undefined, now = clock.now()): void {
		this.#sweep(now);
		const parsed = headers === undefined ? undefined : parseRateLimit(headers, now);
		const retryAfter = parsed === undefined ? undefined : parseRetryAfter(headers?.get('retry-after') ?? null, now);
		const info = parsed && retryAfterWins(parsed, retryAfter, now);
		let state = this.#get(bucket, now);
		if (state === undefined) {
			if (info === undefined) {
				return;
			}

			state = this.#add(bucket, unknown(bucket, 'free'));
		}

		// The answer is to one of the requests in flight, so the server handled it no earlier than the oldest one started.
		const handledAfter = state.inFlight[0] ?? now;
		state.inFlight.pop();
		if (info !== undefined) {
			// Requests lost since then may have been handled after this one.
			const lostAfter = state.losses.filter(time => time >= handledAfter).length;
			learn(state, {...info, remaining: Math.max(0, info.remaining - lostAfter)}, now, handledAfter, retryAfter !== undefined);
		} else if (state.mode === 'known') {
			// It may well have reached the server: it stays counted until the window ends. Once that
			// window may have reset, it may also have opened the next one on the server, as late as now.
			state.remaining = Math.max(0, state.remaining - 1);
			state.losses.push(now);
			if (now >= state.earliestReset && state.window !== undefined) {
				state.resetAt = Math.max(state.resetAt, now + state.window);
			}
		} else if (headers !== undefined && state.mode === 'probe') {
			state.mode = 'free';
		}

		if (info !== undefined) {
			state.believedUntil = now + this.#maxWait;
		}

		const horizon = state.inFlight[0] ?? now;
		while (state.losses.length > 0 && (state.losses[0] ?? now) < horizon) {
			state.losses.shift();
		}

		this.#drain(state);
	}

	/** Starts every waiter whose turn has come, then sets one timer for the next. */
	#drain(state: Bucket): void {
		clock.clearTimeout(state.timer);
		state.timer = undefined;
		this.#startDue(state);
		// Only the requests waiting when a window opens may start together; later ones are spaced.
		state.opened = false;
	}

	#startDue(state: Bucket): void {
		const now = clock.now();
		for (const waiter of state.waiters) {
			const at = this.#startAt(state, now, state.waiters.size);
			if (at === undefined) {
				// Waiting for an answer, which calls observe() and drains again.
				return;
			}

			if (at === refused) {
				this.#refuseAll(state, now);
				return;
			}

			if (at > now) {
				state.timer = clock.setTimeout(
					() => {
						state.timer = undefined;
						this.#drain(state);
					},
					Math.ceil(at - now),
				);
				return;
			}

			state.waiters.delete(waiter);
			waiter.signal?.removeEventListener('abort', waiter.onAbort);
			start(state, now);
			waiter.resolve();
		}
	}

	/** Rejects every waiter: the bucket's quota is gone for longer than `maxWait`. */
	#refuseAll(state: Bucket, now: number): void {
		for (const waiter of state.waiters) {
			state.waiters.delete(waiter);
			waiter.signal?.removeEventListener('abort', waiter.onAbort);
			waiter.reject(new RateLimitError(state.name, state.resetAt, this.#maxWait, now));
		}
	}

	/**
	When the next of `waiting` requests may start (`now` or later); `undefined` while only an answer
	can tell; `refused` when the quota is gone for longer than `maxWait`.
	*/
	#startAt(state: Bucket, now: number, waiting: number): number | undefined | typeof refused {
		if (state.mode === 'known' && now >= state.resetAt) {
			rollOver(state, now, this.#probe);
		}

		if (state.mode === 'known' && state.remaining - state.inFlight.length < 1 && state.resetAt - now > this.#maxWait) {
			if (now < state.believedUntil) {
				return refused;
			}

			// Believed long enough: ask the server again, one request at a time, and take its answer as
			// news, not as one more answer from the window it no longer believes in.
			state.mode = 'probe';
			state.tailReset = Number.NEGATIVE_INFINITY;
		}

		if (state.mode === 'free') {
			return now;
		}

		if (state.mode === 'probe') {
			return state.inFlight.length === 0 ? now : undefined;
		}

		const available = state.remaining - state.inFlight.length;
		if (available < 1) {
			return state.resetAt;
		}

		if (state.lastStart === undefined || (state.opened && waiting <= available)) {
			return now;
		}

		// `available` starts spread evenly over what is left of the window, the last one before it
		// resets; a window longer than `maxWait` is spread over `maxWait`.
		const end = Math.min(state.resetAt, state.lastStart + this.#maxWait);
		return Math.max(now, state.lastStart + (end - state.lastStart) / (available + 1));
	}

	/** The bucket's state, refreshed as most recently used; forgotten once its window is over and idle. */
	#get(bucket: string, now: number): Bucket | undefined {
		const state = this.#buckets.get(bucket);
		if (state === undefined) {
			return undefined;
		}

		this.#buckets.delete(bucket);
		if (expired(state, now)) {
			return undefined;
		}

		this.#buckets.set(bucket, state);
		return state;
	}

	#add(bucket: string, state: Bucket): Bucket {
		this.#buckets.set(bucket, state);
		if (this.#buckets.size > this.#maxBuckets) {
			for (const [name, candidate] of this.#buckets) {
				if (candidate.waiters.size === 0) {
					this.#buckets.delete(name);
					break;
				}
			}
		}

		return state;
	}

	/** Forgets the oldest buckets whose window is over, a few per call: memory follows active buckets without a timer. */
	#sweep(now: number): void {
		let checked = 0;
		for (const [name, state] of this.#buckets) {
			if (checked++ === 4 || !expired(state, now)) {
				return;
			}

			this.#buckets.delete(name);
		}
	}
}

const refused = Symbol('refused');

function unknown(name: string, mode: Bucket['mode']): Bucket {
	return {
		name,
		mode,
		limit: undefined,
		window: undefined,
		remaining: 0,
		resetAt: 0,
		earliestReset: 0,
		latestReset: 0,
		tailReset: Number.NEGATIVE_INFINITY,
		tailRemaining: 0,
		assumed: false,
		opened: false,
		inFlight: [],
		losses: [],
		lastStart: undefined,
		believedUntil: 0,
		waiters: new Set(),
		timer: undefined,
	};
}

function start(state: Bucket, now: number): void {
	state.inFlight.push(now);
	state.lastStart = now;
}

function expired(state: Bucket, now: number): boolean {
	return (
		state.waiters.size === 0 && state.inFlight.length === 0 && (state.mode === 'probe' || (state.mode === 'known' && now >= state.resetAt))
	);
}

/** The window has reset: assume a new one of `limit` from now, or ask the server again when the quota is unknown. */
function rollOver(state: Bucket, now: number, probe: boolean): void {
	if (state.limit === undefined || state.window === undefined) {
		state.mode = probe ? 'probe' : 'free';
		return;
	}

	state.remaining = state.limit;
	state.resetAt = now + state.window;
	state.assumed = true;
	state.opened = true;
	state.lastStart = undefined;
}

/**
Merges an answer into the bucket. Answers arrive out of order and resets are whole seconds, so each
answer only bounds its window's reset: no later than it says from now, no earlier than it says from
when the request could have been handled, less the rounding. An answer is from a later window only
when its earliest reset is after the current window's latest, and from an earlier one only the other
way round. Anything in between is merged as the same window, cautiously: the lowest `remaining` and
the latest reset win, so a misjudged answer can only make the pacer slower, never exceed the quota.
*/
function learn(state: Bucket, info: RateLimitInfo, now: number, handledAfter: number, retryAfter: boolean): void {
	if (info.limit !== undefined) {
		state.limit = info.limit;
	}

	if (info.window !== undefined) {
		state.window = info.window;
	} else if (!retryAfter && info.resetAt > now) {
		state.window = Math.max(state.window ?? 0, Math.ceil((info.resetAt - now) / 1000) * 1000);
	}

	const latest = info.resetAt;
	const earliest = retryAfter ? latest : latest - (now - handledAfter) - 1000;
	if (retryAfter || state.mode !== 'known' || earliest > state.latestReset) {
		// A later window. Answers merged before that may belong to it still count: they can be to
		// requests the server handled after this one.
		const remaining = !retryAfter && earliest <= state.tailReset ? Math.min(info.remaining, state.tailRemaining) : info.remaining;
		// An answer confirming the window assumed at the reset opens nothing new.
		state.opened = !state.assumed;
		state.mode = 'known';
		state.remaining = remaining;
		state.resetAt = latest;
		state.earliestReset = earliest;
		state.latestReset = latest;
		state.tailReset = latest;
		state.tailRemaining = remaining;
		state.assumed = false;
		return;
	}

	if (latest < state.earliestReset) {
		// From a window that already ended.
		return;
	}

	state.tailReset = Math.max(state.tailReset, latest);
	state.tailRemaining = Math.min(state.tailRemaining, info.remaining);
	if (state.assumed) {
		// Maybe from the window that ended, maybe counted in the one assumed since (which the server
		// opened when it handled the request, a little after the pacer assumed it): count it there.
		state.remaining = Math.max(0, state.remaining - 1);
		state.resetAt = Math.max(state.resetAt, latest);
		return;
	}

	state.remaining = Math.min(state.remaining, info.remaining);
	state.resetAt = Math.max(state.resetAt, latest);
	state.earliestReset = Math.max(state.earliestReset, earliest);
	state.latestReset = Math.min(state.latestReset, latest);
}
