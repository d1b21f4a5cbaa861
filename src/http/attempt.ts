import {clock, sleep} from '../core/clock.js';
import type {LaneContext} from '../core/engine.js';
import type {Emitter, RequestSummary} from '../core/events.js';
import type {Limiter} from '../core/limiter.js';
import type {CompiledKeys, LaneRequest} from '../keys/types.js';
import type {Pacing} from '../pacing/pacer.js';
import {parseRetryAfter} from '../pacing/rate-limit-headers.js';
import type {Admission} from './admission.js';
import type {EtagCache} from './etag-cache.js';
import {requestIdentity} from './identity.js';
import {teach} from './learn.js';
import type {Outgoing, Transport} from './outgoing.js';
import {decideRetry, type RetryPolicy} from './retry.js';

/** What the pipeline shares with the lanes instance. */
export type HttpDeps = {
	readonly limiter: Limiter;
	readonly emitter: Emitter;
	readonly retry: RetryPolicy;
	readonly keys: CompiledKeys;
	readonly pacing: Pacing | undefined;
	/** The ETag cache of GETs, when the `cache` option is on. */
	readonly cache: EtagCache | undefined;
	/** Call order across the entry points' asynchronous preparation. */
	readonly admission: Admission;
	/** Operations waiting on the busiest of these lanes: the global limiter serves long lanes first. */
	readonly backlog: (keys: readonly string[]) => number;
};

const final = {retry: false} as const;

/** Method and URL for events and errors: no query string, no user info. */
export function summaryOf(request: LaneRequest): RequestSummary {
	const {url} = request;
	return {method: request.method, url: `${url.origin}${url.pathname}`};
}

/** The rate-limit bucket of a request: the preset's, else its origin. */
export function bucketOf(deps: HttpDeps, laneRequest: LaneRequest): string {
	return deps.keys.preset?.bucket?.(laneRequest) ?? laneRequest.url.origin;
}

/**
Marks a failure after a request may have reached the server: the transport failed (`error` is its
error), or the caller aborted while it was in flight (`error` is the abort reason).
*/
export class InFlightFailure {
	constructor(
		readonly error: unknown,
		readonly aborted: boolean,
	) {}
}

export type AttemptOptions = {
	readonly context: LaneContext;
	/** The request as key rules see it; the preset observes the response, pacing uses its bucket. */
	readonly laneRequest: LaneRequest;
	readonly summary?: RequestSummary | undefined;
	/** Retry 5xx and network errors whatever the method (the request carries an idempotency key). */
	readonly idempotent?: boolean | undefined;
	/**
	`false`: one attempt, for an entry point that retries by itself (ky); a 429 still pauses the
	global limiter, so the other lanes do not run into the same wall.
	@default true
	*/
	readonly retries?: boolean | undefined;
};

/**
Sends `outgoing` while the caller holds its lane: each attempt waits for its bucket's announced
quota, takes a global slot, revalidates a cached GET, is sent, tells the pacer and the preset what
came back, and is retried per the policy (a 429 pauses the limiter for every lane, and the retry
waits in it ahead of later requests). The caller gives the lane back only after the last attempt,
so no later write of the lane can land between two attempts. When the request may have been applied
without an answer saying so (the last attempt failed in the transport, or the caller aborted an
attempt in flight, or aborted the wait for a retry after one), the error is thrown wrapped in
`InFlightFailure`.
*/
export async function attempt(deps: HttpDeps, transport: Transport, outgoing: Outgoing, options: AttemptOptions): Promise<Response> {
	const {laneRequest, context} = options;
	const {retry, limiter, pacing, cache} = deps;
	const {signal} = outgoing;
	const retries = options.retries !== false;
	const method = options.idempotent ? 'PUT' : outgoing.method;
	const bucket = pacing ? bucketOf(deps, laneRequest) : '';
	const again = retries && retry.limit > 0 && outgoing.hasBody;
	const identity = cache && outgoing.method === 'GET' ? requestIdentity(laneRequest) : undefined;
	// An earlier attempt got no answer after it may have reached the server: until a later one is
	// answered, giving up (an abort while waiting to retry) leaves the outcome unknown too.
	let inDoubt = false;
	const giveUp = (error: unknown): never => fail(error, inDoubt, signal);

	for (let number = 1; ; number++) {
		// Waiting for the quota happens before taking a global slot, so it never occupies one.
		const paced = pacing?.enter(bucket, signal);
		if (paced !== undefined) {
			await paced.catch(giveUp);
		}

		const sent = identity === undefined ? outgoing : cache!.prepare(identity, outgoing);
		let response: Response | undefined;
		let error: unknown;
		let reached = false;
		try {
			if (limiter.limited) {
				const send = () => {
					// A request whose signal already aborted is refused by fetch before anything is sent.
					reached = signal?.aborted !== true;
					return sent.send(transport, again);
				};

				// A retry already holds its lane and goes first; otherwise the longest lane does.
				response = await limiter.run(send, signal, number > 1 ? Number.MAX_SAFE_INTEGER : deps.backlog(context.keys));
			} else {
				reached = signal?.aborted !== true;
				response = await sent.send(transport, again);
			}
		} catch (caught) {
			error = caught;
		}

		if (pacing) {
			// Every wait is matched by one observe: a request that got no answer frees its place in the quota too.
			pacing.observe(bucket, response?.headers, clock.now(), response?.status);
		}

		// A success the policy does not list is final: no need to ask (or to read the clock).
		const decision =
			response?.ok === true && !retry.statusCodes.has(response.status)
				? final
				: decideRetry(retry, method, retries ? number : Number.POSITIVE_INFINITY, {response, error, aborted: signal?.aborted === true}, clock.now());
		inDoubt = response === undefined ? inDoubt || reached : false;
		if (!decision.retry) {
			if (response === undefined) {
				return fail(error, inDoubt, signal);
			}

			if (!retries && response.status === 429) {
				const delay = parseRetryAfter(response.headers.get('retry-after'), clock.now());
				if (delay !== undefined && delay <= retry.maxRetryAfter) {
					limiter.pauseFor(delay);
				}
			}

			if (identity !== undefined) {
				response = await cache!.settle(identity, sent, response);
			}

			if (deps.keys.observe) {
				await observe(deps.keys, laneRequest, response);
			}

			const learn = deps.keys.preset?.learn;
			if (learn !== undefined) {
				teach(learn, laneRequest, response);
			}

			return response;
		}

		// The body of an answer we discard must not keep its connection busy.
		response?.body?.cancel().catch(() => undefined);
		emitRetry(deps, context, options.summary ?? summaryOf(laneRequest), {attempt: number, delayMs: decision.delayMs, status: response?.status, error: response ? undefined : error});
		if (decision.pause) {
			// The retry waits in the paused limiter itself, ahead of requests that arrived later.
			limiter.pauseFor(decision.delayMs);
		} else {
			await sleep(decision.delayMs, signal).catch(giveUp);
		}
	}
}

/**
Throws `error` as it is, or, when a request may have reached the server without an answer saying
so (`inDoubt`), wrapped in `InFlightFailure`: with the abort reason when the caller aborted, whatever
the transport made of it.
*/
function fail(error: unknown, inDoubt: boolean, signal: AbortSignal | undefined): never {
	if (!inDoubt) {
		throw error;
	}

	throw signal?.aborted ? new InFlightFailure(signal.reason, true) : new InFlightFailure(error, false);
}

/** The `retry` event: attempt `attempt` of the request `summary` is followed by another after `delayMs`. */
export function emitRetry(
	deps: HttpDeps,
	context: LaneContext,
	summary: RequestSummary,
	retry: {readonly attempt: number; readonly delayMs: number; readonly status?: number | undefined; readonly error?: unknown},
): void {
	if (deps.emitter.active) {
		deps.emitter.emit({type: 'retry', id: context.id, keys: context.keys, kind: context.kind, request: summary, ...retry, status: retry.status, error: retry.error});
	}
}

async function observe(keys: CompiledKeys, laneRequest: LaneRequest, response: Response): Promise<void> {
	try {
		await keys.observe?.(laneRequest, response);
	} catch {
		// What a preset learns from responses is an optimization; a bad body must not fail the request.
	}
}
