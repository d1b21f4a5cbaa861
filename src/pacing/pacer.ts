import {clock, type TimerHandle} from '../core/clock.js';
import {invalid} from '../errors/describe.js';
import {RateLimitError} from '../errors/rate-limit.js';
import {parseRateLimit, parseRetryAfter, type RateLimitInfo, retryAfterWins} from './rate-limit-headers.js';

/** Paces requests by what the server announces in its rate-limit headers, per bucket; what the HTTP pipeline asks of a pacer. */
export type Pacing = {
	wait(bucket: string, signal?: AbortSignal): Promise<void>;
	/** `wait()`, but `undefined` when the request may start at once. */
	enter(bucket: string, signal?: AbortSignal): Promise<void> | undefined;
	/** `status`: the answer's; a bucket that announces nothing has only some of its successes read (see `Pacer.observe()`). */
	observe(bucket: string, headers: Headers | undefined, now: number, status?: number): void;
};

/** How a bucket spends the quota a server announces; see `PacerOptions.mode`. */
export type PacingMode = 'burst' | 'spread';

/** Options of the pacer that follows the quota servers announce (`RateLimit`, `X-RateLimit-*`). */
export type PacerOptions = {
	/**
	How a bucket spends the quota the server announces.

	`'burst'`: send up to `remaining` at once (less the requests in flight, which the server has not
	counted yet) and wait only when that is spent, until the announced reset plus a margin of 20 ms;
	then one request asks what the reset gave back and the others follow its answer.
	A batch ends within a few round trips per window of the quota bound, whatever algorithm the
	server runs (fixed or sliding window, token bucket), since it never assumes what a reset gives back.

	`'spread'`: space the requests evenly over what is left of the window (`reset / remaining` apart),
	for servers that punish bursts or count requests in sub-windows they do not announce. Slower: a
	batch that has more requests than quota spends the window spreading them.
	@default 'burst'
	*/
	readonly mode?: PacingMode;
	/**
	Rate-limit buckets remembered at most; the least recently used idle one is forgotten first. A
	bucket with requests waiting is never forgotten. A bucket is also forgotten once its window has
	reset with nothing waiting or in flight.
	@default 1000
	*/
	readonly maxBuckets?: number;
	/**
	While the first request to a bucket the pacer knows nothing about is in flight, hold the others
	of that bucket until its answer shows the quota (one round trip, once per bucket). Without it, a
	batch that starts at once sends everything before the first answer arrives, quota or not, and
	every request over the quota comes back 429. An answer without rate-limit fields frees the bucket
	for good: it is not paced.
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

/** `PacerOptions` with the defaults filled in and checked; `maxWait: false` is `Infinity`. */
export type PacerSettings = {
	readonly mode: PacingMode;
	readonly maxBuckets: number;
	readonly probe: boolean;
	readonly maxWait: number;
};

type Waiter = {
	readonly resolve: () => void;
	readonly reject: (reason: unknown) => void;
	readonly signal: AbortSignal | undefined;
	readonly onAbort: () => void;
};

type Bucket = {
	readonly name: string;
	/**
	`probe`: the quota is not known (yet, or any more): one request asks, the others wait for its
	answer. `known`: paced. `free`: the server announces no quota.
	*/
	phase: 'probe' | 'known' | 'free';
	limit: number | undefined;
	/** Window length: announced by a policy, or the longest reset seen. */
	window: number | undefined;
	/** Window length as a policy announces it (`w`). */
	policyWindow: number | undefined;
	/** When the quota comes back, at the latest (`'spread'`: the current window ends; `'burst'`: the next request may ask). */
	resetAt: number;
	/**
	Start times of the requests not answered yet, oldest first. They are not reflected in `remaining`,
	so they count against it. Answers cannot be matched to requests, so each one removes the newest:
	the oldest kept is then never later than the oldest really in flight.
	*/
	readonly inFlight: number[];
	/** Until when an announced wait longer than `maxWait` is believed (the last answer plus `maxWait`). */
	believedUntil: number;
	readonly waiters: Set<Waiter>;
	timer: TimerHandle | undefined;

	// `'burst'`: a ledger of the requests sent and answered.
	/** Requests started. */
	started: number;
	/** Requests started and answered, or ended without an answer. */
	answered: number;
	/** For each request in `inFlight`, how many had been answered when it started. */
	readonly seen: number[];
	/**
	Requests that may have started in all, by what the answers tell: `remaining` after a request the
	server handled, plus every request that may have come after it (not answered when it started).
	Each answer bounds what is left from below, so the highest bound is safe: `ceiling - started`
	may start now.
	*/
	ceiling: number;
	/** Since when answers are news: the last request that asked, or the last `Retry-After`. */
	epochStart: number;
	/**
	When a policy announces the window (`w`): when the requests answered within the last window were
	answered, oldest first. Whatever the algorithm (a fixed or sliding window, a token bucket of
	`limit` refilling `limit` per window), at least `limit` less the requests handled within the last
	window are available: that bound needs no reset, which servers round up to whole seconds and a
	sliding window sets to when one unit comes back.
	*/
	readonly answeredAt: number[];
	/** From when that bound holds: a window after an answer, when every unit in use then is back. */
	slidingFrom: number;
	/** The request that asks is in flight. */
	asking: boolean;
	/**
	What the request that asks is for: `'cold'`, a quota not known (or not believed) any more, where an
	answer without fields frees the bucket; `'reset'`, what a reset gave back.
	*/
	ask: 'cold' | 'reset';

	// `'spread'`: windows told apart by their resets.
	remaining: number;
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
	/** Answers observed while `free`, for reading every `quietReads`th one. */
	quiet: number;
	/**
	When requests ended without an answer telling the quota (network error, or no rate-limit
	fields): an answer handled before them does not reflect them. Only those since the oldest
	request in flight started are kept: answers to later requests were handled after that.
	*/
	readonly losses: number[];
	/** When the last request of the current window started. */
	lastStart: number | undefined;
};

/**
How long after an announced reset a `'burst'` bucket waits before asking what it gave back. Resets come
in whole seconds, rounded up by the servers we know (`reset=2` for 1.4 s), so a reset an answer
announces is no earlier than the real one; the margin covers timer granularity and the small offset
between two synchronized clocks that a reset in Unix seconds (`X-RateLimit-Reset: 1767225600`)
depends on. A server that rounds down is caught by the one request that asks first: at most one 429
per window, whose `Retry-After` then wins.
*/
export const resetMargin = 20;

/**
Paces the requests of each rate-limit bucket so that the quota the server announces is never
exceeded. `wait()` before a request starts, `observe()` its answer (or its failure): every resolved
`wait()` must be matched by exactly one `observe()`, as a lock by its release, because a request
that started and was not answered yet is counted against `remaining`.

`'burst'` (the default): a bucket lets through what is left of its quota at once and holds the rest
until the announced reset (plus `resetMargin`); then one request asks what the reset gave back and the
others follow its answer. Nothing is assumed about a reset: a fixed window refills, a sliding window or
a token bucket may give back only part. What is left is counted as a ledger, so answers arriving in
any order never let more start than the server admits: an answer saying `remaining` r after the
server handled a request leaves at least r less every request that may have come after it.

`'spread'`: with `remaining` r after subtracting what is in flight and t ms until the reset, requests
start about t / r apart. After the reset a new window of `limit` is assumed until an answer announces
it. When a window opens, the requests that waited for it start at once if they fit in it.

Buckets are strings the caller derives (an origin, or an origin and endpoint).
*/
export class Pacer implements Pacing {
	readonly #buckets = new Map<string, Bucket>();
	/** The bucket last moved to the end of `#buckets` (the most recently used). */
	#newest: Bucket | undefined;
	#sweptAt = Number.NaN;
	readonly #mode: PacingMode;
	readonly #maxBuckets: number;
	readonly #probe: boolean;
	readonly #maxWait: number;

	/** `settings` are checked and complete: `normalizePacing()` (options.ts) makes them from `PacerOptions`. */
	constructor(settings: PacerSettings) {
		this.#mode = settings.mode;
		this.#maxBuckets = settings.maxBuckets;
		this.#probe = settings.probe;
		this.#maxWait = settings.maxWait;
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
		return this.enter(bucket, signal) ?? Promise.resolve();
	}

	/** `wait()`, but `undefined` when the request may start at once (a promise would cost the caller a turn). */
	enter(bucket: string, signal?: AbortSignal): Promise<void> | undefined {
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
				return undefined;
			}

			state = this.#add(bucket, unknown(bucket, 'probe'));
		}

		if (state.waiters.size === 0 && this.#startAt(state, now, 1) === now) {
			start(state, now);
			state.opened = false;
			return undefined;
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
	error, abort). A `Retry-After` next to rate-limit fields wins (see `retryAfterWins()`). While the
	server announces no quota for the bucket, only every 16th answer with a `status` below 400 is read
	for fields (every answer without a `status`, and every error answer, is read): a server that starts
	announcing one is followed from one of its next 16 answers.
	*/
	observe(bucket: string, headers: Headers | undefined, now = clock.now(), status?: number): void {
		this.#sweep(now);
		let state = this.#get(bucket, now);
		// While the server announces nothing for the bucket, every 16th answer and every error answer
		// is read: looking for the fields is most of the cost of an answer that has none.
		const read = headers !== undefined && (state?.phase !== 'free' || status === undefined || status >= 400 || ++state.quiet % quietReads === 0) ? headers : undefined;
		const parsed = read !== undefined && mayAnnounce(read) ? parseRateLimit(read, now) : undefined;
		const retryAfter = parsed === undefined ? undefined : parseRetryAfter(headers?.get('retry-after') ?? null, now);
		const info = parsed && retryAfterWins(parsed, retryAfter, now);
		if (state === undefined) {
			if (info === undefined) {
				return;
			}

			state = this.#add(bucket, unknown(bucket, 'free'));
		}

		// The answer is to one of the requests in flight, so the server handled it no earlier than the
		// oldest one started, and it reflects at least the requests answered before that one started.
		const handledAfter = state.inFlight[0] ?? now;
		// An answer with no request in flight (the bucket was created by it) reflects none of those started.
		const reflected = state.inFlight.length === 0 ? 0 : (state.seen[0] ?? 0) + 1;
		if (state.inFlight.length > 0) {
			state.answered++;
		}

		state.inFlight.pop();
		state.seen.pop();
		if (this.#mode === 'burst') {
			this.#observeBurst(state, headers, info, retryAfter !== undefined, handledAfter, reflected, now);
		} else {
			this.#observeSpread(state, headers, info, retryAfter !== undefined, handledAfter, now);
		}

		if (state.waiters.size > 0 || state.timer !== undefined) {
			this.#drain(state);
		} else {
			// What #drain() comes to with nothing waiting and no timer set.
			state.opened = false;
		}
	}

	/**
	`reflected`: how many of the requests started the answer reflects at least: those answered before the
	oldest request in flight started, and itself.
	*/
	#observeBurst(state: Bucket, headers: Headers | undefined, info: RateLimitInfo | undefined, retryAfter: boolean, sentAfter: number, reflected: number, now: number): void {
		// Since the last request that asked (or the last `Retry-After`), answers to earlier requests
		// may be from before what that one learned: they can only lower the ceiling, not raise it.
		const current = sentAfter >= state.epochStart;
		if (info !== undefined && (current || retryAfter)) {
			learnQuota(state, info, now, retryAfter);
			state.believedUntil = now + this.#maxWait;
			const window = state.policyWindow;
			if (window === undefined) {
				state.slidingFrom = Number.POSITIVE_INFINITY;
			} else if (retryAfter) {
				state.slidingFrom = Math.max(now + window, info.resetAt);
			} else if (state.slidingFrom === Number.POSITIVE_INFINITY) {
				state.slidingFrom = now + window;
			}
		}

		if (state.policyWindow === undefined) {
			// Only when there is something to drop: setting an array's length is a call into the runtime.
			if (state.answeredAt.length !== 0) {
				state.answeredAt.length = 0;
			}
		} else {
			// Handled by now at the latest (a request lost without an answer too, if at all).
			state.answeredAt.push(now);
			while ((state.answeredAt[0] ?? now) <= now - state.policyWindow - resetMargin) {
				state.answeredAt.shift();
			}
		}

		if (info !== undefined && retryAfter) {
			// Nothing starts before it has passed, whatever `remaining` said; then one request asks.
			state.phase = 'known';
			state.ceiling = state.started;
			state.resetAt = info.resetAt;
			state.epochStart = now;
			state.asking = false;
		} else if (info !== undefined) {
			// Whenever the request was sent, the bound it gives is safe; only its reset may be old news.
			const ceiling = info.remaining + reflected;
			if (state.phase !== 'known') {
				if (current) {
					state.phase = 'known';
					state.ceiling = ceiling;
					state.resetAt = info.resetAt;
					state.asking = false;
				}
			} else if (ceiling > state.ceiling) {
				state.ceiling = ceiling;
				if (current) {
					// Quota came back since the answers before (a reset, a refill): its reset is the one to wait for.
					state.resetAt = info.resetAt;
				}
			} else {
				if (info.remaining === 0) {
					// Nothing was left then: believe it, whoever spent the quota (another client perhaps).
					state.ceiling = Math.min(state.ceiling, ceiling);
				}

				if (current) {
					// The latest view wins: a sliding window's reset is when its oldest request leaves, and
					// what left earlier may have been spent already.
					state.resetAt = Math.max(state.resetAt, info.resetAt);
				}
			}
		} else if (state.phase === 'probe' && state.asking && current) {
			if (state.ask === 'reset' && state.window !== undefined) {
				// The request that asked what a reset gave back got no answer telling it (a network error,
				// or an error page without fields: a limited bucket stays limited). It may have spent the
				// last unit given back, in a window it opened as late as now: wait for that one to end.
				state.phase = 'known';
				state.ceiling = state.started;
				state.resetAt = now + state.window;
				state.epochStart = now;
			} else if (headers !== undefined && state.ask === 'cold') {
				// The server announces no quota for this bucket.
				state.phase = 'free';
			}

			state.asking = false;
		}

		if (state.phase === 'probe' && state.inFlight.length === 0) {
			// Every request is answered and none told: the next one asks.
			state.asking = false;
		}
	}

	#observeSpread(state: Bucket, headers: Headers | undefined, info: RateLimitInfo | undefined, retryAfter: boolean, handledAfter: number, now: number): void {
		if (info !== undefined) {
			// Requests lost since then may have been handled after this one.
			const lostAfter = state.losses.filter(time => time >= handledAfter).length;
			learn(state, {...info, remaining: Math.max(0, info.remaining - lostAfter)}, now, handledAfter, retryAfter);
			state.believedUntil = now + this.#maxWait;
		} else if (state.phase === 'known') {
			// It may well have reached the server: it stays counted until the window ends. Once that
			// window may have reset, it may also have opened the next one on the server, as late as now.
			state.remaining = Math.max(0, state.remaining - 1);
			state.losses.push(now);
			if (now >= state.earliestReset && state.window !== undefined) {
				state.resetAt = Math.max(state.resetAt, now + state.window);
			}
		} else if (headers !== undefined && state.phase === 'probe') {
			state.phase = 'free';
		}

		const horizon = state.inFlight[0] ?? now;
		while (state.losses.length > 0 && (state.losses[0] ?? now) < horizon) {
			state.losses.shift();
		}
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
		return this.#mode === 'burst' ? this.#startAtBurst(state, now) : this.#startAtSpread(state, now, waiting);
	}

	#startAtBurst(state: Bucket, now: number): number | undefined | typeof refused {
		if (state.phase === 'known' && state.ceiling - state.started < 1 && slidingAvailable(state, now) < 1) {
			// Once the announced window tells when units are back, requests start by it alone: one started
			// by it may spend what a reset gave back, so asking about that reset would not be news.
			const slidingAt = slidingNext(state, now);
			let askAt = state.resetAt < state.slidingFrom || slidingAt === Number.POSITIVE_INFINITY ? state.resetAt + resetMargin : Number.POSITIVE_INFINITY;
			if (slidingAt === Number.POSITIVE_INFINITY && state.inFlight.length >= (state.limit ?? 0) && state.policyWindow !== undefined) {
				// As many in flight as the quota: their answers tell.
				askAt = Number.POSITIVE_INFINITY;
			}

			const next = Math.min(askAt, slidingAt);
			if (next === Number.POSITIVE_INFINITY) {
				return undefined;
			}

			if (next - resetMargin - now > this.#maxWait) {
				if (now < state.believedUntil) {
					return refused;
				}

				// Believed long enough: ask the server again, and take its answer as news.
				ask(state, now, 'cold');
			} else if (next > now) {
				return next;
			} else {
				// Ask what the reset gave back: a fixed window refills, a sliding window or a token
				// bucket may give back only part.
				ask(state, now, 'reset');
			}
		}

		if (state.phase === 'probe') {
			// The request that asks goes once every earlier one is answered: its answer is then the news.
			return state.asking || state.inFlight.length > 0 ? undefined : now;
		}

		return now;
	}



	#startAtSpread(state: Bucket, now: number, waiting: number): number | undefined | typeof refused {
		if (state.phase === 'known' && now >= state.resetAt) {
			rollOver(state, now, this.#probe);
		}

		if (state.phase === 'known' && state.remaining - state.inFlight.length < 1 && state.resetAt - now > this.#maxWait) {
			if (now < state.believedUntil) {
				return refused;
			}

			// Believed long enough: ask the server again, one request at a time, and take its answer as
			// news, not as one more answer from the window it no longer believes in.
			state.phase = 'probe';
			state.tailReset = Number.NEGATIVE_INFINITY;
		}

		if (state.phase === 'free') {
			return now;
		}

		if (state.phase === 'probe') {
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

		if (expired(state, now)) {
			this.#buckets.delete(bucket);
			return undefined;
		}

		// Most recently used last; a bucket that already is (one endpoint hit again and again) stays put.
		if (this.#newest !== state) {
			this.#buckets.delete(bucket);
			this.#buckets.set(bucket, state);
			this.#newest = state;
		}

		return state;
	}

	#add(bucket: string, state: Bucket): Bucket {
		this.#buckets.set(bucket, state);
		this.#newest = state;
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
		// Once per clock tick: within one, nothing more can have expired.
		if (now === this.#sweptAt) {
			return;
		}

		this.#sweptAt = now;
		let checked = 0;
		for (const state of this.#buckets.values()) {
			if (checked++ === 4 || !expired(state, now)) {
				return;
			}

			this.#buckets.delete(state.name);
		}
	}
}

/** Whether `headers` has any field a quota or `Retry-After` is read from: one pass over the names instead of a lookup per field. */
function mayAnnounce(headers: Headers): boolean {
	for (const name of headers.keys()) {
		if (name.startsWith('ratelimit') || name.startsWith('x-ratelimit') || name.startsWith('x-rate-limit') || name === 'retry-after') {
			return true;
		}
	}

	return false;
}

const refused = Symbol('refused');

/** A bucket whose server announces no quota has every this many answers read for one (see `observe()`). */
const quietReads = 16;

function unknown(name: string, phase: Bucket['phase']): Bucket {
	return {
		name,
		phase,
		limit: undefined,
		window: undefined,
		policyWindow: undefined,
		resetAt: 0,
		inFlight: [],
		believedUntil: 0,
		waiters: new Set(),
		timer: undefined,
		started: 0,
		answered: 0,
		seen: [],
		ceiling: 0,
		epochStart: Number.NEGATIVE_INFINITY,
		answeredAt: [],
		slidingFrom: Number.POSITIVE_INFINITY,
		asking: false,
		ask: 'cold',
		remaining: 0,
		earliestReset: 0,
		latestReset: 0,
		tailReset: Number.NEGATIVE_INFINITY,
		tailRemaining: 0,
		assumed: false,
		opened: false,
		quiet: 0,
		losses: [],
		lastStart: undefined,
	};
}

function start(state: Bucket, now: number): void {
	state.inFlight.push(now);
	state.seen.push(state.answered);
	state.started++;
	state.lastStart = now;
	if (state.phase === 'probe') {
		state.asking = true;
	}
}

/**
`'burst'`: what the window announced by a policy leaves at least: `limit` less the requests in flight
and those answered within the last window (plus `resetMargin`). `-Infinity` when it cannot tell.
*/
function slidingAvailable(state: Bucket, now: number): number {
	const {policyWindow, limit} = state;
	if (policyWindow === undefined || limit === undefined || now < state.slidingFrom + resetMargin) {
		return Number.NEGATIVE_INFINITY;
	}

	const since = now - policyWindow - resetMargin;
	let recent = 0;
	for (let index = state.answeredAt.length - 1; index >= 0 && (state.answeredAt[index] ?? since) > since; index--) {
		recent++;
	}

	return limit - state.inFlight.length - recent;
}

/** When `slidingAvailable()` reaches 1 if nothing else starts; `Infinity` when only an answer can tell. */
function slidingNext(state: Bucket, now: number): number {
	const {policyWindow, limit} = state;
	const allowed = limit === undefined ? -1 : limit - 1 - state.inFlight.length;
	if (policyWindow === undefined || allowed < 0 || state.slidingFrom === Number.POSITIVE_INFINITY) {
		return Number.POSITIVE_INFINITY;
	}

	const since = now - policyWindow - resetMargin;
	const recent = state.answeredAt.filter(time => time > since);
	const leaving = recent[recent.length - allowed - 1];
	return Math.max(leaving === undefined ? now : leaving + policyWindow + resetMargin, state.slidingFrom + resetMargin);
}

/** `'burst'`: one request asks for the quota; answers to requests sent before it are not news. */
function ask(state: Bucket, now: number, kind: Bucket['ask']): void {
	state.phase = 'probe';
	state.ask = kind;
	state.asking = false;
	state.epochStart = now;
}

function expired(state: Bucket, now: number): boolean {
	return (
		state.waiters.size === 0 && state.inFlight.length === 0 && (state.phase === 'probe' || (state.phase === 'known' && now >= state.resetAt))
	);
}

/** `'spread'`: the window has reset: assume a new one of `limit` from now, or ask the server again when the quota is unknown. */
function rollOver(state: Bucket, now: number, probe: boolean): void {
	if (state.limit === undefined || state.window === undefined) {
		state.phase = probe ? 'probe' : 'free';
		return;
	}

	state.remaining = state.limit;
	state.resetAt = now + state.window;
	state.assumed = true;
	state.opened = true;
	state.lastStart = undefined;
}

/** The quota and window an answer names; a window not announced is the longest reset seen. */
function learnQuota(state: Bucket, info: RateLimitInfo, now: number, retryAfter: boolean): void {
	if (info.limit !== undefined) {
		state.limit = info.limit;
	}

	state.policyWindow = info.window;
	if (info.window !== undefined) {
		state.window = info.window;
	} else if (!retryAfter && info.resetAt > now) {
		state.window = Math.max(state.window ?? 0, Math.ceil((info.resetAt - now) / 1000) * 1000);
	}
}

/**
`'spread'`: merges an answer into the bucket. Answers arrive out of order and resets are whole seconds,
so each answer only bounds its window's reset: no later than it says from now, no earlier than it says
from when the request could have been handled, less the rounding. An answer is from a later window
only when its earliest reset is after the current window's latest, and from an earlier one only the
other way round. Anything in between is merged as the same window, cautiously: the lowest `remaining`
and the latest reset win, so a misjudged answer can only make the pacer slower, never exceed the quota.
*/
function learn(state: Bucket, info: RateLimitInfo, now: number, handledAfter: number, retryAfter: boolean): void {
	learnQuota(state, info, now, retryAfter);
	const latest = info.resetAt;
	const earliest = retryAfter ? latest : latest - (now - handledAfter) - 1000;
	if (retryAfter || state.phase !== 'known' || earliest > state.latestReset) {
		// A later window. Answers merged before that may belong to it still count: they can be to
		// requests the server handled after this one.
		const remaining = !retryAfter && earliest <= state.tailReset ? Math.min(info.remaining, state.tailRemaining) : info.remaining;
		// An answer confirming the window assumed at the reset opens nothing new.
		state.opened = !state.assumed;
		state.phase = 'known';
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
