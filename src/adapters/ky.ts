import {clock} from '../core/clock.js';
import {invalid} from '../errors/describe.js';
import type {Engine, LaneContext} from '../core/engine.js';
import type {LaneRequest, OperationKind} from '../keys/types.js';
import {parseRetryAfter} from '../pacing/rate-limit-headers.js';
import {bucketOf} from '../http/http.js';
import {scrubErrorText, secretsOf} from '../errors/redact.js';
import {requestError, toLaneRequest} from '../keys/request.js';
import type {UncertainPolicy} from '../occ/uncertain.js';
import {normalizeUncertain} from '../options.js';
import {type HttpDeps, InFlightFailure, summarize} from '../http/http.js';
import {failUncertain, verifyWrite} from '../http/uncertain.js';

type KyOptions = Record<string, unknown> & {
	readonly hooks?: Record<string, unknown[] | undefined>;
};

/**
The shape of a ky instance that `wrapKy()` relies on (ky >= 1.1). Typed structurally so that the
package never imports ky: it is an optional peer.
*/
export type KyInstanceLike = {
	(input: string | URL | Request, options?: never): Promise<Response>;
	extend(options: never): unknown;
};

const shortcuts = ['get', 'post', 'put', 'patch', 'head', 'delete'] as const;
const bodyShortcuts = ['json', 'text', 'formData', 'arrayBuffer', 'blob', 'bytes'] as const;

/**
`outcome` with ky's body shortcuts (`.json()` …) of `result`. Each is called at once, as the caller
calls it (ky sets the `Accept` header then), and gives its value once `outcome` resolves.
*/
function withBodyShortcuts(outcome: Promise<Response>, result: Promise<Response>): Promise<Response> {
	const source = result as unknown as Record<string, unknown>;
	const target = outcome as unknown as Record<string, unknown>;
	for (const name of bodyShortcuts) {
		const shortcut = source[name];
		if (typeof shortcut === 'function') {
			target[name] = () => {
				const body = (shortcut as () => Promise<unknown>).call(result);
				// When `outcome` rejects, the caller hears that instead.
				body.catch(() => undefined);
				return outcome.then(async () => body);
			};
		}
	}

	return outcome;
}

type Fetch = (input: Request, init?: RequestInit) => Promise<Response>;
type CallKy = (input: unknown, options?: KyOptions) => Promise<Response>;

/**
Wraps a ky instance so that each call, with all of ky's own retries, runs inside one hold of its
lane. The lane is taken in a `beforeRequest` hook (so waiting for it does not count against ky's
`timeout`), every attempt takes a global slot, and the lane is released when ky's promise settles.
A write whose last attempt was sent and got no answer (ky's `timeout`, the caller's signal, a broken
connection) may still be applied: the call rejects with `UncertainOutcomeError` (the ky error is its
`cause`) and the lane applies the `uncertain` policy before its next write.
*/
export function createKyWrapper<K extends KyInstanceLike>(engine: Engine, deps: HttpDeps, instance: K, uncertain: UncertainPolicy = normalizeUncertain(undefined)): K {
	if (typeof instance !== 'function' || typeof instance.extend !== 'function') {
		throw invalid('ky', 'a ky instance', instance);
	}

	// ky exposes an instance's defaults only to `extend(fn)`; read its fetch so the wrapper keeps it.
	let parentFetch: Fetch | undefined;
	(instance.extend as (options: (parent: {fetch?: Fetch}) => object) => unknown)(parent => {
		parentFetch = parent.fetch;
		return {};
	});
	const baseFetch: Fetch = parentFetch ?? ((input, init) => globalThis.fetch(input, init));
	const callKy = instance as unknown as CallKy;

	const call = (input: unknown, options: KyOptions = {}): Promise<Response> => {
		let held: Promise<void> | undefined;
		let release: (() => void) | undefined;
		let laneRequest: LaneRequest | undefined;
		let heldKeys: readonly string[] = [];
		let heldKind: OperationKind = 'read';
		let context: LaneContext | undefined;
		let attempts = 0;
		// A write attempt that was sent and got no answer (ky's timeout, the caller's signal, a broken
		// connection): until a later attempt is answered, its outcome is unknown.
		let inDoubt: Request | undefined;

		const hold = (request: Request): Promise<void> => {
			held ??= (async () => {
				// No user code runs between taking the place and entering the lane, so waiting for it cannot deadlock.
				const place = deps.admission.reserve();
				let keys: readonly string[];
				let kind: OperationKind;
				try {
					laneRequest = await toLaneRequest(request, deps.keys.readsBody);
					({keys, kind} = deps.keys.resolve(laneRequest));
					heldKeys = keys;
					heldKind = kind;
				} catch (error) {
					deps.admission.release(place);
					throw error;
				}

				await new Promise<void>((granted, refused) => {
					const finished = new Promise<void>(resolve => {
						release = resolve;
					});
					deps.admission.admit(place, () => {
						engine
							.run(
								keys,
								kind,
								laneContext => {
									context = laneContext;
									granted();
									return finished;
								},
								{signal: request.signal},
								summarize(request),
							)
							.catch(refused);
					});
				});
			})();
			return held;
		};

		const attempt: Fetch = async (request, init) => {
			await hold(request);
			const priority = attempts++ > 0 ? Number.MAX_SAFE_INTEGER : deps.backlog(heldKeys);
			let sent = false;
			let response: Response;
			try {
				response = await deps.limiter.run(
					() => {
						// A request whose signal already aborted is refused by fetch before anything is sent.
						sent = !request.signal.aborted;
						return baseFetch(request, init);
					},
					request.signal,
					priority,
				);
			} catch (error) {
				if (sent && heldKind === 'write') {
					inDoubt = request;
				}

				throw error;
			}

			inDoubt = undefined;
			if (response.status === 429) {
				// ky waits before its retry itself; pausing the limiter keeps the other lanes from running into the same wall.
				const delay = parseRetryAfter(response.headers.get('retry-after'), clock.now());
				if (delay !== undefined && delay <= deps.retry.maxRetryAfter) {
					deps.limiter.pauseFor(delay);
				}
			}

			if (deps.keys.observe && laneRequest) {
				try {
					await deps.keys.observe(laneRequest, response);
				} catch {
					// Learning from responses is an optimization; it never fails a request.
				}
			}

			return response;
		};

		// As send() does for fetch: each attempt waits for its bucket's announced quota before it takes a
		// global slot, and its answer (or failure) tells the pacer what is left.
		const pacedAttempt: Fetch = async (request, init) => {
			const {pacing} = deps;
			if (pacing === undefined) {
				return attempt(request, init);
			}

			await hold(request);
			const bucket = laneRequest === undefined ? new URL(request.url).origin : bucketOf(deps, laneRequest);
			await pacing.wait(bucket, request.signal);
			let response: Response | undefined;
			try {
				response = await attempt(request, init);
				return response;
			} finally {
				pacing.observe(bucket, response?.headers, clock.now());
			}
		};

		const hooks = options.hooks ?? {};
		let result: Promise<Response>;
		try {
			result = callKy(input, {
				...options,
				fetch: pacedAttempt,
				hooks: {...hooks, beforeRequest: [...(hooks.beforeRequest ?? []), (request: Request) => hold(request).then(() => undefined)]},
			});
		} catch (error) {
			// ky builds its Request at once; the platform's refusal quotes the URL, password and query included.
			throw requestError(input, options.headers === undefined ? undefined : {headers: options.headers as HeadersInit}, error, true);
		}

		const done = () => {
			release?.();
		};

		const outcome = new Promise<Response>((resolve, reject) => {
			result.then(
				response => {
					done();
					resolve(response);
				},
				(error: unknown) => {
					// Scrubbed before the caller sees it: ky quotes the URL, query included.
					const request = (error as {request?: unknown} | null)?.request;
					if (request instanceof Request) {
						scrubErrorText(error, secretsOf(request.headers, request.url));
					}

					const write = inDoubt;
					if (write === undefined || context === undefined || laneRequest === undefined) {
						done();
						reject(error);
						return;
					}

					// The write may still be applied: the lane applies the `uncertain` policy before its next write.
					const sentRequest = laneRequest;
					const laneContext = context;
					failUncertain({
						engine,
						policy: uncertain,
						context: laneContext,
						failure: new InFlightFailure(error, write.signal.aborted),
						verify: () => verifyWrite(deps, request => baseFetch(request), laneContext, write, sentRequest),
						report: reject,
					})
						.catch(reject)
						.finally(done);
				},
			);
		});
		return withBodyShortcuts(outcome, result);
	};

	const wrapped = ((input: unknown, options?: KyOptions) => call(input, options)) as unknown as Record<string, unknown>;
	for (const method of shortcuts) {
		wrapped[method] = (input: unknown, options?: KyOptions) => call(input, {...options, method});
	}

	const source = instance as unknown as Record<string, unknown>;
	wrapped.extend = (options: unknown) => createKyWrapper(engine, deps, (source.extend as (options: unknown) => K)(options), uncertain);
	wrapped.create = (options: unknown) => createKyWrapper(engine, deps, (source.create as (options: unknown) => K)(options), uncertain);
	wrapped.stop = source.stop;
	wrapped.retry = source.retry;
	return wrapped as unknown as K;
}
