import {parseRetryAfter} from '../pacing/rate-limit-headers.js';

/** How writelane retries an HTTP request. Every attempt runs inside the lane the first one took. */
export type RetryOptions = {
	/**
	Retries after the first attempt.
	@default 2
	*/
	readonly limit?: number;
	/**
	Methods whose 5xx answers and network errors are retried. POST and PATCH are not idempotent
	(RFC 9110 §9.2.2): add them only when the request carries an idempotency key or the server
	dedupes. A 429 is retried for every method, because the server refused it before processing.
	@default ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']
	*/
	readonly methods?: readonly string[];
	/**
	Status codes retried (for `methods`; 429 for every method).
	@default [429, 502, 503, 504]
	*/
	readonly statusCodes?: readonly number[];
	/**
	Retry network errors (the request may not have reached the server) for `methods`.
	@default true
	*/
	readonly networkErrors?: boolean;
	/**
	Delay before retry `attempt` (1-based) when the server sent no `Retry-After`: exponential
	(`base * 2 ** (attempt - 1)`, at most `max`) with full jitter, or your function. Delays are finite
	milliseconds >= 0: a function returning anything but a finite number >= 0 (`Infinity`, `NaN`, a
	negative number, a non-number) fails the request with a `TypeError`.
	@default {base: 300, max: 10_000}
	*/
	readonly backoff?: {readonly base?: number; readonly max?: number} | ((attempt: number) => number);
	/**
	The longest `Retry-After` writelane waits for; a longer one ends the retries and hands you the
	response. `false` waits for any `Retry-After`, however long. The pacer bounds its own waits for a
	bucket's quota separately (`pacing.maxWait`): raise it too if you raise this above an hour.
	@default 60_000
	*/
	readonly maxRetryAfter?: number | false;
};

/** A retry policy with every default filled in and checked: what `normalizeRetry()` (options.ts) makes of `RetryOptions`. */
export type RetryPolicy = {
	readonly limit: number;
	readonly methods: ReadonlySet<string>;
	readonly statusCodes: ReadonlySet<number>;
	readonly networkErrors: boolean;
	readonly backoff: (attempt: number) => number;
	readonly maxRetryAfter: number;
};

export type RetryDecision = {readonly retry: false} | {readonly retry: true; readonly delayMs: number; readonly pause: boolean};

const stop: RetryDecision = {retry: false};

/** Whether attempt `attempt` (1-based) of `method`, which ended with `response` or `error`, is retried, and when. */
export function decideRetry(
	policy: RetryPolicy,
	method: string,
	attempt: number,
	outcome: {readonly response?: Response | undefined; readonly error?: unknown; readonly aborted: boolean},
	now: number,
): RetryDecision {
	if (attempt > policy.limit || outcome.aborted) {
		return stop;
	}

	const {response} = outcome;
	if (response === undefined) {
		return policy.networkErrors && policy.methods.has(method) && !isAbortError(outcome.error)
			? {retry: true, delayMs: policy.backoff(attempt), pause: false}
			: stop;
	}

	const {status} = response;
	if (!policy.statusCodes.has(status) || (status !== 429 && !policy.methods.has(method))) {
		return stop;
	}

	const retryAfter = status === 429 || status === 503 ? parseRetryAfter(response.headers.get('retry-after'), now) : undefined;
	if (retryAfter !== undefined && retryAfter > policy.maxRetryAfter) {
		return stop;
	}

	return {retry: true, delayMs: retryAfter ?? policy.backoff(attempt), pause: status === 429};
}

function isAbortError(error: unknown): boolean {
	const name = (error as {name?: unknown} | undefined)?.name;
	return name === 'AbortError' || name === 'TimeoutError';
}
