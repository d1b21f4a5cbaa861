import {clock, sleep} from '../core/clock.js';
import type {LaneContext} from '../core/engine.js';
import type {Emitter, RequestSummary} from '../core/events.js';
import type {Limiter} from '../core/limiter.js';
import {urlPart} from '../keys/request.js';
import type {CompiledKeys, LaneRequest} from '../keys/types.js';
import type {Pacing} from '../pacing/pacer.js';
import {parseRetryAfter} from '../pacing/rate-limit-headers.js';
import type {Admission} from './admission.js';
import type {EtagCache} from './etag-cache.js';
import {requestIdentity} from './identity.js';
import {teach} from './learn.js';
import type {Outgoing, Transport} from './outgoing.js';
import {decideRetry, type RetryDecision, type RetryPolicy} from './retry.js';

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

/** Method and URL for events and errors: no query string, no user info. */
export function summaryOf(request: LaneRequest): RequestSummary {
	const {url} = request;
	return {method: request.method, url: `${url.origin}${url.pathname}`};
}

/** The rate-limit bucket of a request: the preset's, else its origin. */
export function bucketOf(deps: HttpDeps, laneRequest: LaneRequest): string {
	return deps.keys.preset?.bucket?.(laneRequest) ?? urlPart(laneRequest, 'origin');
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
	/**
	`false`: a failure that leaves the outcome unknown is thrown as it is (the transport's error, or the
	abort reason when the caller aborted), not wrapped in `InFlightFailure`: a read has no outcome to decide.
	@default true
	*/
	readonly inFlight?: boolean | undefined;
	/**
	Takes over a failure that leaves the outcome unknown (see `inFlight`): its promise is the attempt's
	outcome instead of the rejection with `InFlightFailure`, so a write needs no handler of its own
	behind every exchange.
	*/
	readonly onInFlight?: ((failure: InFlightFailure) => Promise<never>) | undefined;
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
export function attempt(deps: HttpDeps, transport: Transport, outgoing: Outgoing, options: AttemptOptions): Promise<Response> {
	return new Attempt(deps, transport, outgoing, options).start(1);
}

/**
The state of one `attempt()`: each send is followed by one handler, which for a final answer does
everything that is left at once, so an exchange costs the caller one promise, not a chain of them.
*/
class Attempt {
	readonly #deps: HttpDeps;
	readonly #transport: Transport;
	readonly #outgoing: Outgoing;
	readonly #options: AttemptOptions;
	readonly #retries: boolean;
	readonly #again: boolean;
	readonly #bucket: string;
	readonly #identity: string | undefined;
	/** The request as sent this time (a cached GET carries `If-None-Match`). */
	#sent: Outgoing;
	/** This attempt may have reached the server. */
	#reached = false;
	/**
	An earlier attempt got no answer after it may have reached the server: until a later one is
	answered, giving up (an abort while waiting to retry) leaves the outcome unknown too.
	*/
	#inDoubt = false;

	constructor(deps: HttpDeps, transport: Transport, outgoing: Outgoing, options: AttemptOptions) {
		this.#deps = deps;
		this.#transport = transport;
		this.#outgoing = outgoing;
		this.#options = options;
		this.#retries = options.retries !== false;
		this.#again = this.#retries && deps.retry.limit > 0 && outgoing.hasBody;
		this.#bucket = deps.pacing ? bucketOf(deps, options.laneRequest) : '';
		this.#identity = deps.cache && outgoing.method === 'GET' ? requestIdentity(options.laneRequest) : undefined;
		this.#sent = outgoing;
	}

	/** Attempt `number`: waits for the bucket's quota (before taking a global slot, so it never occupies one), then sends. */
	start(number: number): Promise<Response> {
		const paced = this.#deps.pacing?.enter(this.#bucket, this.#outgoing.signal);
		return paced === undefined ? this.#send(number) : paced.then(() => this.#send(number), (error: unknown) => this.#giveUp(error));
	}

	#send(number: number): Promise<Response> {
		const deps = this.#deps;
		const {signal} = this.#outgoing;
		const sent = this.#identity === undefined ? this.#outgoing : deps.cache!.prepare(this.#identity, this.#outgoing);
		this.#sent = sent;
		this.#reached = false;
		let sending: Promise<Response>;
		try {
			if (deps.limiter.limited) {
				const send = () => {
					// A request whose signal already aborted is refused by fetch before anything is sent.
					this.#reached = signal?.aborted !== true;
					return sent.send(this.#transport, this.#again);
				};

				// A retry already holds its lane and goes first; otherwise the longest lane does.
				sending = deps.limiter.run(send, signal, number > 1 ? Number.MAX_SAFE_INTEGER : deps.backlog(this.#options.context.keys));
			} else {
				this.#reached = signal?.aborted !== true;
				sending = sent.send(this.#transport, this.#again);
			}
		} catch (error) {
			sending = Promise.reject(error);
		}

		return sending.then(
			response => this.#answered(number, response),
			(error: unknown) => this.#failed(number, error),
		);
	}

	#answered(number: number, response: Response): Response | Promise<Response> {
		const deps = this.#deps;
		const {retry} = deps;
		// Read once: each of a Response's getters checks what it is called on.
		const {status} = response;
		// Every wait is matched by one observe.
		deps.pacing?.observe(this.#bucket, response.headers, clock.now(), status);
		this.#inDoubt = false;
		// A success (what `ok` says) the policy does not list is final: no need to ask (or to read the clock).
		if (status < 200 || status > 299 || retry.statusCodes.has(status)) {
			const decision = this.#decide(number, {response});
			if (decision.retry) {
				// The body of an answer we discard must not keep its connection busy.
				response.body?.cancel().catch(() => undefined);
				return this.#retry(number, decision, status, undefined);
			}

			if (!this.#retries && status === 429) {
				const delay = parseRetryAfter(response.headers.get('retry-after'), clock.now());
				if (delay !== undefined && delay <= retry.maxRetryAfter) {
					deps.limiter.pauseFor(delay);
				}
			}
		}

		if (this.#identity !== undefined) {
			return deps.cache!.settle(this.#identity, this.#sent, response).then(settled => this.#finish(settled));
		}

		return this.#finish(response);
	}

	#failed(number: number, error: unknown): Promise<Response> {
		const deps = this.#deps;
		// A request that got no answer frees its place in the quota too.
		deps.pacing?.observe(this.#bucket, undefined, clock.now());
		this.#inDoubt ||= this.#reached;
		const decision = this.#decide(number, {error});
		if (!decision.retry) {
			return this.#giveUp(error);
		}

		return this.#retry(number, decision, undefined, error);
	}

	/** What the preset does with a final answer: observe it (asynchronously), learn from the body the caller reads. */
	#finish(response: Response): Response | Promise<Response> {
		const {keys} = this.#deps;
		const {laneRequest} = this.#options;
		if (keys.observe) {
			return observe(keys, laneRequest, response).then(() => this.#learn(response));
		}

		return this.#learn(response);
	}

	#learn(response: Response): Response {
		const learn = this.#deps.keys.preset?.learn;
		if (learn !== undefined) {
			teach(learn, this.#options.laneRequest, response);
		}

		return response;
	}

	#retry(number: number, decision: RetryDecision & {readonly retry: true}, status: number | undefined, error: unknown): Promise<Response> {
		const deps = this.#deps;
		const {context, laneRequest, summary} = this.#options;
		emitRetry(deps, context, summary ?? summaryOf(laneRequest), {attempt: number, delayMs: decision.delayMs, status, error: status === undefined ? error : undefined});
		if (decision.pause) {
			// The retry waits in the paused limiter itself, ahead of requests that arrived later.
			deps.limiter.pauseFor(decision.delayMs);
			return this.start(number + 1);
		}

		return sleep(decision.delayMs, this.#outgoing.signal).then(
			() => this.start(number + 1),
			(abort: unknown) => this.#giveUp(abort),
		);
	}

	/**
	The policy's decision after attempt `number`: a request with an idempotency key is retried like a
	`PUT`; with `retries: false` the caller retries, and none follows.
	*/
	#decide(number: number, outcome: {readonly response?: Response; readonly error?: unknown}): RetryDecision {
		const method = this.#options.idempotent ? 'PUT' : this.#outgoing.method;
		return decideRetry(this.#deps.retry, method, this.#retries ? number : Number.POSITIVE_INFINITY, {...outcome, aborted: this.#outgoing.signal?.aborted === true}, clock.now());
	}

	/**
	Throws `error` as it is or, when a request may have reached the server without an answer saying so,
	wrapped in `InFlightFailure`: with the abort reason when the caller aborted, whatever the transport
	made of it. With `inFlight: false`, that error or abort reason is thrown unwrapped; with
	`onInFlight`, the failure goes to it instead.
	*/
	#giveUp(error: unknown): Promise<never> {
		if (!this.#inDoubt) {
			throw error;
		}

		const {signal} = this.#outgoing;
		const aborted = signal?.aborted === true;
		const cause = aborted ? signal!.reason : error;
		const options = this.#options;
		if (options.inFlight === false) {
			throw cause;
		}

		const failure = new InFlightFailure(cause, aborted);
		if (options.onInFlight === undefined) {
			throw failure;
		}

		return options.onInFlight(failure);
	}
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
