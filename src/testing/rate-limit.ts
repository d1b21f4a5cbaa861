/** The state of one rate-limit window after a request was counted (or refused). */
export type RateLimitDecision = {
	readonly allowed: boolean;
	readonly limit: number;
	readonly remaining: number;
	/** Milliseconds until the window resets. */
	readonly resetMs: number;
};

type Window = {start: number; count: number};

/**
Fixed windows per key (a token, or a token and an endpoint). A window opens with the first request
after the previous one expired, as Capacities' `reset` counts down from there. Refused requests are
not counted. No timers: windows are checked lazily, so nothing keeps the process alive.
*/
export class FixedWindowLimiter {
	readonly #windows = new Map<string, Window>();

	constructor(
		readonly limit: number,
		readonly interval: number,
		readonly now: () => number,
	) {}

	take(key: string): RateLimitDecision {
		const now = this.now();
		let window = this.#windows.get(key);
		if (!window || now >= window.start + this.interval) {
			window = {start: now, count: 0};
			this.#windows.set(key, window);
		}

		const resetMs = window.start + this.interval - now;
		if (window.count >= this.limit) {
			return {allowed: false, limit: this.limit, remaining: 0, resetMs};
		}

		window.count++;
		return {allowed: true, limit: this.limit, remaining: this.limit - window.count, resetMs};
	}
}

/** Seconds for `reset` and `Retry-After`: whole seconds, rounded up, at least 1 while limited. */
export function resetSeconds(resetMs: number): number {
	return Math.max(1, Math.ceil(resetMs / 1000));
}

/** The IETF draft-07 `RateLimit` field, the form Capacities sends: `limit=5, remaining=4, reset=58`. */
export function rateLimitHeader(decision: RateLimitDecision): string {
	return `limit=${decision.limit}, remaining=${decision.remaining}, reset=${resetSeconds(decision.resetMs)}`;
}
