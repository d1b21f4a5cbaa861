import {clock, sleep} from '../core/clock.js';
import type {LaneContext} from '../core/engine.js';
import type {Emitter, RequestSummary} from '../core/events.js';
import type {Limiter} from '../core/limiter.js';
import {decideRetry, type RetryPolicy} from '../core/retry.js';
import type {CompiledKeys, LaneRequest} from '../keys/types.js';

/** What the HTTP adapters share with the lanes instance. */
export type HttpDeps = {
	readonly limiter: Limiter;
	readonly emitter: Emitter;
	readonly retry: RetryPolicy;
	readonly keys: CompiledKeys;
};

export type FetchLike = (input: Request) => Promise<Response>;

/** Method and URL for events and errors: no query string, no user info. */
export function summarize(request: Request): RequestSummary {
	const url = new URL(request.url);
	return {method: request.method, url: `${url.origin}${url.pathname}`};
}

/**
Sends `request` while the caller holds its lane: each attempt takes a global slot, failed attempts
are retried per the policy (a 429 pauses the limiter for every lane), and the lane is only given back
by the caller after the last attempt, so no later write of the lane can land between two attempts.
*/
export type SendOptions = {
	readonly context: LaneContext;
	readonly summary: RequestSummary;
	/** Given when the preset should see the response. */
	readonly laneRequest?: LaneRequest | undefined;
};

export async function send(deps: HttpDeps, fetchImpl: FetchLike, request: Request, options: SendOptions): Promise<Response> {
	const {laneRequest} = options;
	const {retry, limiter, emitter} = deps;
	const {method, signal} = request;
	// A body can be sent once; keep the original unread and send clones when a retry may follow.
	const mayRetry = retry.limit > 0 && request.body !== null;
	for (let attempt = 1; ; attempt++) {
		const attemptRequest = mayRetry ? request.clone() : request;
		let response: Response | undefined;
		let error: unknown;
		try {
			response = await limiter.run(() => fetchImpl(attemptRequest), signal, attempt > 1 ? 1 : 0);
		} catch (caught) {
			error = caught;
		}

		const decision = decideRetry(retry, method, attempt, {response, error, aborted: signal.aborted}, clock.now());
		if (!decision.retry) {
			if (response === undefined) {
				throw error;
			}

			if (laneRequest && deps.keys.observe) {
				await observe(deps.keys, laneRequest, response);
			}

			return response;
		}

		if (response) {
			// The body of an answer we discard must not keep its connection busy.
			response.body?.cancel().catch(() => undefined);
		}

		if (decision.pause) {
			// The retry waits in the paused limiter itself, ahead of requests that arrived later.
			limiter.pauseFor(decision.delayMs);
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

		if (!decision.pause) {
			await sleep(decision.delayMs, signal);
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
