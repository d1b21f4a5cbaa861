import {clock, sleep} from '../core/clock.js';
import type {Admission} from './admission.js';
import type {LaneContext} from '../core/engine.js';
import type {Emitter, RequestSummary} from '../core/events.js';
import type {Limiter} from '../core/limiter.js';
import {decideRetry, type RetryPolicy} from './retry.js';
import type {CompiledKeys, LaneRequest} from '../keys/types.js';
import type {Pacing} from '../pacing/pacer.js';

/** What the HTTP adapters share with the lanes instance. */
export type HttpDeps = {
	readonly limiter: Limiter;
	readonly emitter: Emitter;
	readonly retry: RetryPolicy;
	readonly keys: CompiledKeys;
	readonly pacing: Pacing | undefined;
	/** Call order across the adapters' asynchronous preparation. */
	readonly admission: Admission;
	/** Operations waiting on the busiest of these lanes: the global limiter serves long lanes first. */
	readonly backlog: (keys: readonly string[]) => number;
};

export type FetchLike = (input: Request) => Promise<Response>;

/** Method and URL for events and errors: no query string, no user info. */
export function summarize(request: Request): RequestSummary {
	const url = new URL(request.url);
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

export type SendOptions = {
	readonly context: LaneContext;
	readonly summary: RequestSummary;
	/** The request as key rules see it; the preset observes the response, pacing uses its bucket. */
	readonly laneRequest: LaneRequest;
	/** Retry 5xx and network errors whatever the method (the request carries an idempotency key). */
	readonly idempotent?: boolean | undefined;
};

/**
Sends `request` while the caller holds its lane: each attempt is paced by the server's announced
quota, takes a global slot, and is retried per the policy (a 429 pauses the limiter for every lane,
and the retry waits in it ahead of later requests). The caller gives the lane back only after the
last attempt, so no later write of the lane can land between two attempts. When the request may
have been applied without an answer saying so (the last attempt failed in the transport, or the
caller aborted an attempt in flight, or aborted the wait for a retry after one), the error is thrown
wrapped in `InFlightFailure`.
*/
export async function send(deps: HttpDeps, fetchImpl: FetchLike, request: Request, options: SendOptions): Promise<Response> {
	const {laneRequest} = options;
	const {retry, limiter, emitter, pacing} = deps;
	const {signal} = request;
	const method = options.idempotent ? 'PUT' : request.method;
	const bucket = pacing ? bucketOf(deps, laneRequest) : '';
	// A body can be sent once; keep the original unread and send clones when a retry may follow.
	const mayRetry = retry.limit > 0 && request.body !== null;
	// An earlier attempt got no answer after it may have reached the server: until a later one is
	// answered, giving up (an abort while waiting to retry) leaves the outcome unknown too.
	let inDoubt = false;
	const giveUp: (error: unknown) => never = error => {
		if (!inDoubt) {
			throw error;
		}

		// Aborted by the caller: the abort reason says why, whatever the transport made of it.
		throw signal.aborted ? new InFlightFailure(signal.reason, true) : new InFlightFailure(error, false);
	};

	for (let attempt = 1; ; attempt++) {
		const attemptRequest = mayRetry ? request.clone() : request;
		if (pacing) {
			// Waiting for the quota happens before taking a global slot, so it never occupies one.
			await pacing.wait(bucket, signal).catch(giveUp);
		}
		let response: Response | undefined;
		let error: unknown;
		let sent = false;
		try {
			response = await limiter.run(
				() => {
					// A request whose signal already aborted is refused by fetch before anything is sent.
					sent = !signal.aborted;
					return fetchImpl(attemptRequest);
				},
				signal,
				// A retry already holds its lane and goes first; otherwise the longest lane does.
				attempt > 1 ? Number.MAX_SAFE_INTEGER : deps.backlog(options.context.keys),
			);
		} catch (caught) {
			error = caught;
		}

		if (pacing) {
			// Every wait is matched by one observe: a request that got no answer frees its place in the quota too.
			pacing.observe(bucket, response?.headers, clock.now());
		}

		const decision = decideRetry(retry, method, attempt, {response, error, aborted: signal.aborted}, clock.now());
		inDoubt = response === undefined ? inDoubt || sent : false;
		if (!decision.retry) {
			if (response === undefined) {
				giveUp(error);
			}

			if (deps.keys.observe) {
				await observe(deps.keys, laneRequest, response);
			}

			return response;
		}

		if (response) {
			// The body of an answer we discard must not keep its connection busy.
			response.body?.cancel().catch(() => undefined);
		}

		if (emitter.active) {
			emitter.emit({
				type: 'retry',
				id: options.context.id,
				keys: options.context.keys,
				kind: options.context.kind,
				request: options.summary,
				attempt,
				delayMs: decision.delayMs,
				status: response?.status,
				error: response ? undefined : error,
			});
		}

		if (decision.pause) {
			// The retry waits in the paused limiter itself, ahead of requests that arrived later.
			limiter.pauseFor(decision.delayMs);
		} else {
			await sleep(decision.delayMs, signal).catch(giveUp);
		}
	}
}

async function observe(keys: CompiledKeys, laneRequest: LaneRequest, response: Response): Promise<void> {
	try {
		await keys.observe?.(laneRequest, response);
	} catch {
		// What a preset learns from responses is an optimization; a bad body must not fail the request.
	}
}
