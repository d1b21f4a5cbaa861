import type {Engine, LaneContext, Task} from '../core/engine.js';
import {toLaneRequest, toRequest} from '../keys/request.js';
import type {LaneRequest, OperationKind} from '../keys/types.js';
import type {Coalescer} from '../http/coalesce.js';
import type {Contention} from '../occ/contention.js';
import type {EtagCache} from '../http/etag-cache.js';
import {requestIdentity} from '../http/identity.js';
import {withIdempotencyKey} from '../http/idempotency.js';
import {markSuperseded} from '../http/supersede.js';
import type {UncertainPolicy} from '../occ/uncertain.js';
import {type FetchLike, type HttpDeps, InFlightFailure, send, summarize} from '../http/http.js';
import {failUncertain, verifyWrite} from '../http/uncertain.js';

/** The opt-in HTTP behaviours of a lanes instance. */
export type FetchFeatures = {
	readonly cache: EtagCache | undefined;
	readonly coalescer: Coalescer | undefined;
	readonly uncertain: UncertainPolicy;
	readonly supersede: boolean;
	/** The idempotency-key header, or `undefined` when keys are off. */
	readonly idempotencyHeader: string | undefined;
	/** The resources `update()` recently found contended, for fair conflict recovery. */
	readonly contention: Contention;
};

type Call = {
	readonly request: Request;
	readonly laneRequest: LaneRequest;
	readonly kind: OperationKind;
	readonly idempotent: boolean;
};

type Waiter = {resolve: (response: Response) => void; reject: (reason: unknown) => void};

type PutState = {
	readonly url: string;
	started: boolean;
	supersededBy: PutState | undefined;
	/** Callers of superseded PUTs waiting for this one's response. */
	waiters: Waiter[];
};

const skipped = Symbol('superseded');

/** A promise that only ever rejects, when `report` is called; raced with the lane's own result. */
function earlyFailure(): {promise: Promise<never>; report: (error: unknown) => void} {
	let report!: (error: unknown) => void;
	const promise = new Promise<never>((_resolve, reject) => {
		report = reject;
	});
	return {promise, report};
}

/**
A fetch-compatible function whose requests run in their lanes: writes to one resource one after
another in call order, reads per the `reads` mode, each with its retries inside the lane. The
`Response` is the one `fetchImpl` returned (or, for a revalidated cache hit, the cached one); the lane
is released when its headers arrive.
*/
export function createLaneFetch(engine: Engine, deps: HttpDeps, features: FetchFeatures, fetchImpl: FetchLike): typeof globalThis.fetch {
	const {admission} = deps;
	const puts = new WeakMap<Task<unknown>, PutState>();

	/**
	One exchange inside the lane: conditional GET, retries, and the uncertain-outcome policy. `report`
	hears an `UncertainOutcomeError` as soon as it is known, while the lane may stay held longer.
	*/
	const exchange = async (context: LaneContext, call: Call, report?: (error: unknown) => void): Promise<Response> => {
		const {request, laneRequest} = call;
		const identity = features.cache && request.method === 'GET' ? requestIdentity(laneRequest) : undefined;
		const sent = identity ? features.cache!.prepare(identity, request) : request;
		try {
			const response = await send(deps, fetchImpl, sent, {context, summary: summarize(request), laneRequest, idempotent: call.idempotent});
			return identity ? await features.cache!.settle(identity, sent, response) : response;
		} catch (error) {
			if (!(error instanceof InFlightFailure)) {
				throw error;
			}

			if (call.kind !== 'write') {
				throw error.error;
			}

			return failUncertain({
				engine,
				policy: features.uncertain,
				context,
				failure: error,
				verify: () => verifyWrite(deps, fetchImpl, context, sent, laneRequest),
				report,
			});
		}
	};

	const runSupersedable = (keys: readonly string[], call: Call): Promise<Response> => {
		const state: PutState = {url: call.laneRequest.url.href, started: false, supersededBy: undefined, waiters: []};
		let own: Waiter | undefined;
		const replaced = new Promise<Response>((resolve, reject) => {
			own = {resolve, reject};
		});
		const task: Task<Response | typeof skipped> = async context => {
			state.started = true;
			const winner = state.supersededBy;
			if (winner) {
				winner.waiters.push(own!, ...state.waiters);
				return skipped;
			}

			try {
				const response = await exchange(context, call, error => {
					early.report(error);
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

		puts.set(task, state);
		const follows = (previous: Task<unknown>) => {
			const earlier = puts.get(previous);
			if (earlier && !earlier.started && earlier.url === state.url) {
				earlier.supersededBy = state;
			}
		};

		const early = earlyFailure();
		const result = engine.run(keys, 'write', task, {signal: call.request.signal, follows}, summarize(call.request)).then(result => (result === skipped ? replaced : result));
		return Promise.race([result, early.promise]);
	};

	const runLane = (keys: readonly string[], call: Call): Promise<Response> => {
		if (features.supersede && call.request.method === 'PUT' && keys.length === 1) {
			return runSupersedable(keys, call);
		}

		if (call.kind !== 'write') {
			return engine.run(keys, call.kind, context => exchange(context, call), {signal: call.request.signal}, summarize(call.request));
		}

		// An uncertain outcome reaches the caller at once; the lane stays held for the policy (see failUncertain()).
		const early = earlyFailure();
		const result = engine.run(keys, 'write', context => exchange(context, call, early.report), {signal: call.request.signal}, summarize(call.request));
		return Promise.race([result, early.promise]);
	};

	const prepare = async (input: RequestInfo | URL, init: RequestInit | undefined): Promise<{keys: readonly string[]; call: Call}> => {
		let request = toRequest(input, init);
		const laneRequest = await toLaneRequest(request, deps.keys.readsBody);
		const {keys, kind} = deps.keys.resolve(laneRequest);
		let idempotent = false;
		if (features.idempotencyHeader !== undefined) {
			const keyed = await withIdempotencyKey(request, deps.keys.preset, features.idempotencyHeader);
			if (keyed) {
				request = keyed;
				idempotent = true;
			}
		}

		return {keys, call: {request, laneRequest, kind, idempotent}};
	};

	const enter = ({keys, call}: {keys: readonly string[]; call: Call}): Promise<Response> => {
		const {request, laneRequest, kind} = call;
		if (features.coalescer && request.method === 'GET' && kind === 'read') {
			return features.coalescer.run(requestIdentity(laneRequest), request.signal, signal => runLane(keys, {...call, request: new Request(request, {signal})}));
		}

		return runLane(keys, call);
	};

	return function laneFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
		// The place in call order is taken now: a body that takes longer to read must not let a later write overtake.
		const place = admission.reserve();
		return prepare(input, init).then(
			prepared =>
				new Promise<Response>((resolve, reject) => {
					admission.admit(place, () => {
						enter(prepared).then(resolve, reject);
					});
				}),
			(error: unknown) => {
				admission.release(place);
				throw error;
			},
		);
	};
}
