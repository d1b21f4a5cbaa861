import type {Engine, LaneContext, Task} from '../core/engine.js';
import type {RequestSummary} from '../core/events.js';
import {urlPart} from '../keys/request.js';
import type {LaneRequest, OperationKind} from '../keys/types.js';
import type {Contention} from '../occ/contention.js';
import type {UncertainPolicy} from '../occ/uncertain.js';
import {type AttemptOptions, attempt, type HttpDeps, type InFlightFailure, summaryOf} from './attempt.js';
import type {Coalescer} from './coalesce.js';
import {withIdempotencyKey} from './idempotency.js';
import {requestIdentity} from './identity.js';
import {type Outgoing, type Prepared, prepare, type Transport} from './outgoing.js';
import {markSuperseded} from './supersede.js';
import {failUncertain, verifyWrite} from './uncertain.js';

/** The opt-in request features of a lanes instance, the same through every entry point. */
export type Features = {
	readonly coalescer: Coalescer | undefined;
	readonly uncertain: UncertainPolicy;
	readonly supersede: boolean;
	/** The idempotency-key header, or `undefined` when keys are off. */
	readonly idempotencyHeader: string | undefined;
	/** The resources `update()` recently found contended, for fair conflict recovery. */
	readonly contention: Contention;
};

/** A prepared call, with an idempotency key where it takes one. */
export type Keyed = Prepared & {
	/** The request carries an idempotency key: retried like an idempotent method. */
	readonly idempotent: boolean;
};

/** One HTTP call, ready for its lane. */
export type Call = Keyed & {
	readonly keys: readonly string[];
	readonly kind: OperationKind;
	readonly summary: RequestSummary;
	/**
	Asked once the call holds its lanes, before anything is sent: a reason (an error) refuses the
	call, which then rejects with it and sends nothing; `undefined` lets it go.
	*/
	readonly decline?: (() => unknown) | undefined;
};

/** The pipeline of each lanes instance, for the parts of writelane built on one (`runBatch()`). */
export const pipelines = new WeakMap<object, Pipeline>();

/** How an entry point decides a call's lanes: the `keys` rule, or fixed keys (`wrapFetch(fetch, {keys})`). */
export type Resolve = (request: LaneRequest) => {readonly keys: readonly string[]; readonly kind: OperationKind};

type Waiter = {resolve: (response: Response) => void; reject: (reason: unknown) => void};

type PutState = {
	readonly url: string;
	started: boolean;
	supersededBy: PutState | undefined;
	/** Callers of superseded PUTs waiting for this one's response. */
	waiters: Waiter[];
};

const skipped = Symbol('superseded');

/** A call; its summary (for events and errors) is made when first asked for. */
class HttpCall implements Call {
	readonly outgoing: Outgoing;
	readonly laneRequest: LaneRequest;
	readonly idempotent: boolean;
	#summary: RequestSummary | undefined;

	constructor(
		outgoing: Outgoing,
		laneRequest: LaneRequest,
		idempotent: boolean,
		readonly keys: readonly string[],
		readonly kind: OperationKind,
		readonly decline: (() => unknown) | undefined,
	) {
		this.outgoing = outgoing;
		this.laneRequest = laneRequest;
		this.idempotent = idempotent;
	}

	get summary(): RequestSummary {
		this.#summary ??= summaryOf(this.laneRequest);
		return this.#summary;
	}
}

function toCall(keyed: Keyed, keys: readonly string[], kind: OperationKind, decline?: () => unknown): Call {
	return new HttpCall(keyed.outgoing, keyed.laneRequest, keyed.idempotent, keys, kind, decline);
}

/** One key of a write goes to the engine as a string: its fast path for plain writes takes only that. */
function laneKeys(keys: readonly string[]): string | readonly string[] {
	return keys.length === 1 ? keys[0]! : keys;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
	return typeof (value as {then?: unknown} | undefined)?.then === 'function';
}

/** The attempt options of a write: one object, whose `onInFlight` hands an unknown outcome to the pipeline's `uncertain` policy. */
class WriteAttempt implements AttemptOptions {
	readonly laneRequest: LaneRequest;
	readonly idempotent: boolean;

	constructor(
		readonly pipeline: Pipeline,
		readonly context: LaneContext,
		readonly call: Call,
		readonly transport: Transport,
		readonly report: ((error: unknown) => void) | undefined,
	) {
		this.laneRequest = call.laneRequest;
		this.idempotent = call.idempotent;
	}

	onInFlight(failure: InFlightFailure): Promise<never> {
		return this.pipeline.uncertain(this.context, this.call, failure, this.transport, this.report);
	}
}

/**
The HTTP pipeline every entry point (fetch, ky, `update()`, batch) passes through: it takes each
call's place in call order, resolves its lanes, enters them (coalescing identical GETs, superseding
queued PUTs), and inside the lane runs the attempts (`attempt()`: pacing, slot, cache, send, observe,
retry) and the uncertain-outcome policy. An entry point only turns its own calling convention into a
`Prepared` call and back.
*/
export class Pipeline {
	readonly #puts = new WeakMap<Task<unknown>, PutState>();

	constructor(
		readonly engine: Engine,
		readonly deps: HttpDeps,
		readonly features: Features,
	) {}

	/**
	Runs `enter(prepare())` in call order. The place is taken now: a call whose preparation takes
	longer (a `Request` body to read) still enters its lanes before any call made after it. When
	nothing earlier is being prepared and `prepare` answers at once, `enter` runs at once.
	*/
	inOrder<P, T>(prepare: () => P | Promise<P>, enter: (prepared: P) => Promise<T>): Promise<T> {
		const {admission} = this.deps;
		let prepared: P | Promise<P>;
		try {
			prepared = prepare();
		} catch (error) {
			return Promise.reject(error);
		}

		if (!isPromise(prepared) && !admission.busy) {
			return enter(prepared);
		}

		const place = admission.reserve();
		return Promise.resolve(prepared).then(
			ready =>
				new Promise<T>((resolve, reject) => {
					admission.admit(place, () => {
						enter(ready).then(resolve, reject);
					});
				}),
			(error: unknown) => {
				admission.release(place);
				throw error;
			},
		);
	}

	/** `prepared` with its lanes (by `resolve`, else the `keys` rule) and, where the feature is on, an idempotency key. */
	call(prepared: Prepared, resolve?: Resolve): Call | Promise<Call> {
		const {keys, kind} = (resolve ?? this.deps.keys.resolve)(prepared.laneRequest);
		if (this.features.idempotencyHeader === undefined) {
			return new HttpCall(prepared.outgoing, prepared.laneRequest, false, keys, kind, undefined);
		}

		const keyed = this.keyed(prepared);
		return isPromise(keyed) ? keyed.then(ready => toCall(ready, keys, kind)) : toCall(keyed, keys, kind);
	}

	/** `prepared` with an idempotency key where the feature is on and the request can carry one. */
	keyed(prepared: Prepared): Keyed | Promise<Keyed> {
		const header = this.features.idempotencyHeader;
		if (header === undefined) {
			return {outgoing: prepared.outgoing, laneRequest: prepared.laneRequest, idempotent: false};
		}

		const keyed = withIdempotencyKey(prepared.outgoing, this.deps.keys.preset, header);
		const done = (outgoing: Outgoing | undefined): Keyed => ({outgoing: outgoing ?? prepared.outgoing, laneRequest: prepared.laneRequest, idempotent: outgoing !== undefined});
		return isPromise(keyed) ? keyed.then(done) : done(keyed);
	}

	/**
	`fetch(input, init)` through the pipeline, sent with `transport`: in call order, into the lanes
	`resolve` (else the `keys` rule) decides, with `decline` asked before anything is sent.
	*/
	request(input: RequestInfo | URL, init: RequestInit | undefined, transport: Transport, resolve?: Resolve, decline?: () => unknown): Promise<Response> {
		let call: Call | Promise<Call>;
		try {
			call = this.prepared(prepare(input, init, this.deps.keys), resolve);
		} catch (error) {
			return Promise.reject(error);
		}

		// What inOrder() comes to for a call prepared at once with nothing earlier being prepared.
		if (!isPromise(call) && !this.deps.admission.busy) {
			return this.fetch(decline === undefined ? call : toCall(call, call.keys, call.kind, decline), transport);
		}

		return this.inOrder(
			() => call,
			ready => this.fetch(decline === undefined ? ready : toCall(ready, ready.keys, ready.kind, decline), transport),
		);
	}

	/** `call()` of a call that may still be being prepared. */
	prepared(prepared: Prepared | Promise<Prepared>, resolve?: Resolve): Call | Promise<Call> {
		return isPromise(prepared) ? prepared.then(ready => this.call(ready, resolve)) : this.call(prepared, resolve);
	}

	/** A fetch call: through its lanes (or a coalesced GET, or a superseded PUT), with every attempt inside. */
	fetch(call: Call, transport: Transport): Promise<Response> {
		const {coalescer} = this.features;
		if (coalescer && call.outgoing.method === 'GET' && call.kind === 'read') {
			return coalescer.run(requestIdentity(call.laneRequest), call.outgoing.signal ?? null, signal => this.#lane(toCall({outgoing: call.outgoing.with({signal}), laneRequest: call.laneRequest, idempotent: call.idempotent}, call.keys, call.kind), transport));
		}

		return this.#lane(call, transport);
	}

	/**
	Holds the lanes of `call` from when they are granted until `finished` settles (ky's own retries
	run inside one hold): resolves with the lane context once granted.
	*/
	hold(call: Call, finished: Promise<unknown>): Promise<LaneContext> {
		return new Promise<LaneContext>((granted, refused) => {
			this.engine
				.run(
					call.keys,
					call.kind,
					context => {
						granted(context);
						return finished;
					},
					{signal: call.outgoing.signal},
					this.#summary(call),
				)
				.catch(refused);
		});
	}

	/**
	One exchange inside the lane: the attempts and, for a write whose outcome is unknown, the
	`uncertain` policy. `report` hears an `UncertainOutcomeError` as soon as it is known, while the
	lane may stay held longer.
	*/
	exchange(context: LaneContext, call: Call, transport: Transport, report?: (error: unknown) => void): Promise<Response> {
		let declined: unknown;
		try {
			declined = call.decline?.();
		} catch (error) {
			declined = error;
		}

		if (declined !== undefined) {
			return Promise.reject(declined);
		}

		if (call.kind !== 'write') {
			return attempt(this.deps, transport, call.outgoing, {context, laneRequest: call.laneRequest, idempotent: call.idempotent, inFlight: false});
		}

		return attempt(this.deps, transport, call.outgoing, new WriteAttempt(this, context, call, transport, report));
	}

	/**
	Applies the `uncertain` policy to `call`, a write whose outcome `failure` left unknown, inside its
	lane; rejects with the caller's `UncertainOutcomeError` (`report` hears it first).
	*/
	uncertain(context: LaneContext, call: Prepared, failure: InFlightFailure, transport: Transport, report?: (error: unknown) => void, verify?: () => Promise<boolean | undefined>): Promise<never> {
		return failUncertain({
			engine: this.engine,
			policy: this.features.uncertain,
			context,
			failure,
			verify: verify ?? (() => verifyWrite(this.deps, transport, context, call.outgoing, call.laneRequest)),
			report,
		});
	}

	/** The summary the engine keeps for its events: made only while someone listens. */
	#summary(call: Call): RequestSummary | undefined {
		return this.deps.emitter.active ? call.summary : undefined;
	}

	#lane(call: Call, transport: Transport): Promise<Response> {
		const {engine} = this;
		if (this.features.supersede && call.outgoing.method === 'PUT' && call.keys.length === 1) {
			return this.#supersedable(call, transport);
		}

		const {signal} = call.outgoing;
		const options = signal === undefined ? undefined : {signal};
		if (call.kind !== 'write') {
			// As an array: a parallel read that starts at once keeps it (a single key would be wrapped in a new one).
			return engine.run(call.keys, call.kind, context => this.exchange(context, call, transport), options, this.#summary(call));
		}

		// An uncertain outcome reaches the caller at once (`reject`); the lane stays held for the policy (see failUncertain()).
		return new Promise<Response>((resolve, reject) => {
			engine.run(laneKeys(call.keys), 'write', context => this.exchange(context, call, transport, reject), options, this.#summary(call)).then(resolve, reject);
		});
	}

	#supersedable(call: Call, transport: Transport): Promise<Response> {
		const state: PutState = {url: urlPart(call.laneRequest, 'href'), started: false, supersededBy: undefined, waiters: []};
		let own: Waiter | undefined;
		const replaced = new Promise<Response>((resolve, reject) => {
			own = {resolve, reject};
		});
		const follows = (previous: Task<unknown>) => {
			const earlier = this.#puts.get(previous);
			if (earlier && !earlier.started && earlier.url === state.url) {
				earlier.supersededBy = state;
			}
		};

		// As in #lane(): an uncertain outcome reaches the caller (and the callers it replaced) at once.
		return new Promise<Response>((resolve, reject) => {
			const task: Task<Response | typeof skipped> = async context => {
				state.started = true;
				const winner = state.supersededBy;
				if (winner) {
					winner.waiters.push(own!, ...state.waiters);
					return skipped;
				}

				try {
					const response = await this.exchange(context, call, transport, error => {
						reject(error);
						for (const waiter of state.waiters) {
							waiter.reject(error);
						}
					});
					for (const waiter of state.waiters) {
						waiter.resolve(markSuperseded(response.clone()));
					}

					return response;
				} catch (error) {
					for (const waiter of state.waiters) {
						waiter.reject(error);
					}

					throw error;
				}
			};

			this.#puts.set(task, state);
			this.engine
				.run(call.keys, 'write', task, {signal: call.outgoing.signal, follows}, this.#summary(call))
				.then(result => (result === skipped ? replaced : result))
				.then(resolve, reject);
		});
	}
}
