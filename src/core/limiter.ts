import PQueue from 'p-queue';
import {clock, maxTimerDelay, type TimerHandle} from './clock.js';
import {invalid} from '../errors/describe.js';

export type RateLimit = {
	/** Requests started per `interval` at most (a sliding window). */
	readonly limit: number;
	/** Window length in milliseconds, at most 2^31 - 1 (about 24.8 days). */
	readonly interval: number;
};

/**
The global limiter: requests in flight (`concurrency`) and requests started per window (`rateLimit`),
shared by every lane. Operations take a slot only once their lane is held, and give it back between
retries, so a write waiting for its lane or sleeping before a retry never occupies one.
*/
export class Limiter {
	#queue: PQueue | undefined;
	#resumeAt = 0;
	#resumeTimer: TimerHandle | undefined;

	constructor(concurrency: number, rateLimit: RateLimit | undefined) {
		// p-queue times its windows with platform timers, which fire a longer one after 1 ms: its queue would spin, starting a request every millisecond.
		if (rateLimit && rateLimit.interval > maxTimerDelay) {
			throw invalid('rateLimit.interval', `a number of milliseconds <= ${maxTimerDelay} (about 24.8 days)`, rateLimit.interval);
		}

		if (concurrency !== Number.POSITIVE_INFINITY || rateLimit) {
			this.#queue = new PQueue({
				concurrency,
				...(rateLimit && {intervalCap: rateLimit.limit, interval: rateLimit.interval, strict: true}),
			});
		}
	}

	/** Runs `task` in a slot; a higher `priority` is served first (retries, then the operations of the longest lanes). */
	run<T>(task: () => Promise<T>, signal: AbortSignal | undefined, priority = 0): Promise<T> {
		const queue = this.#queue;
		if (queue === undefined) {
			return task();
		}

		if (signal === undefined) {
			return queue.add(task, {priority});
		}

		// p-queue races a running task against its signal, which would free the slot (and the lane) while the task still runs: the signal counts only while waiting.
		const waiting = new AbortController();
		const onAbort = () => {
			waiting.abort(signal.reason);
		};

		if (signal.aborted) {
			onAbort();
		} else {
			signal.addEventListener('abort', onAbort, {once: true});
		}

		return queue
			.add(
				async () => {
					signal.removeEventListener('abort', onAbort);
					return task();
				},
				{signal: waiting.signal, priority},
			)
			.finally(() => {
				signal.removeEventListener('abort', onAbort);
			});
	}

	/**
	Stops starting requests for `ms` (a 429 with Retry-After: rate limits belong to the token, not the
	resource). Any length is kept in full: the clock chains timers past the platform's 24.8-day limit.
	*/
	pauseFor(ms: number): void {
		const until = clock.now() + ms;
		if (until <= this.#resumeAt) {
			return;
		}

		// Unlimited instances run without a queue until the first pause needs one.
		this.#queue ??= new PQueue();
		this.#queue.pause();
		this.#resumeAt = until;
		clock.clearTimeout(this.#resumeTimer);
		this.#resumeTimer = clock.setTimeout(() => {
			this.#resumeTimer = undefined;
			this.#resumeAt = 0;
			this.#queue?.start();
		}, ms);
	}

	/** Whether requests go through a queue at all (false: unlimited and never paused, the fast path). */
	get limited(): boolean {
		return this.#queue !== undefined;
	}

	get paused(): boolean {
		return this.#resumeTimer !== undefined;
	}

	/** Requests waiting for a slot. */
	get waiting(): number {
		return this.#queue?.size ?? 0;
	}

	/** Cancels the resume timer and drops waiting tasks' slots (on close). */
	dispose(): void {
		clock.clearTimeout(this.#resumeTimer);
		this.#resumeTimer = undefined;
		this.#queue?.start();
	}
}
