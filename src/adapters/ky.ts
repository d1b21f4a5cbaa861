import {clock} from '../core/clock.js';
import {invalid} from '../core/describe.js';
import type {Engine} from '../core/engine.js';
import type {LaneRequest, OperationKind} from '../keys/types.js';
import {parseRetryAfter} from '../core/retry.js';
import {scrubErrorText, secretsOf} from '../errors/redact.js';
import {requestError, toLaneRequest} from '../keys/request.js';
import {type HttpDeps, summarize} from './http.js';

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

type Fetch = (input: Request, init?: RequestInit) => Promise<Response>;
type CallKy = (input: unknown, options?: KyOptions) => Promise<Response>;

/**
Wraps a ky instance so that each call, with all of ky's own retries, runs inside one hold of its
lane. The lane is taken in a `beforeRequest` hook (so waiting for it does not count against ky's
`timeout`), every attempt takes a global slot, and the lane is released when ky's promise settles.
*/
export function createKyWrapper<K extends KyInstanceLike>(engine: Engine, deps: HttpDeps, instance: K): K {
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
		let attempts = 0;

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
								() => {
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
			const response = await deps.limiter.run(() => baseFetch(request, init), request.signal, priority);
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

		const hooks = options.hooks ?? {};
		let result: Promise<Response>;
		try {
			result = callKy(input, {
				...options,
				fetch: attempt,
				hooks: {...hooks, beforeRequest: [...(hooks.beforeRequest ?? []), (request: Request) => hold(request).then(() => undefined)]},
			});
		} catch (error) {
			// ky builds its Request at once; the platform's refusal quotes the URL, password and query included.
			throw requestError(input, options.headers === undefined ? undefined : {headers: options.headers as HeadersInit}, error, true);
		}

		const done = () => {
			release?.();
		};

		// Registered before the caller's handlers, so they see the error with ky's quote of the URL scrubbed.
		result.then(done, (error: unknown) => {
			const request = (error as {request?: unknown} | null)?.request;
			if (request instanceof Request) {
				scrubErrorText(error, secretsOf(request.headers, request.url));
			}

			done();
		});
		return result;
	};

	const wrapped = ((input: unknown, options?: KyOptions) => call(input, options)) as unknown as Record<string, unknown>;
	for (const method of shortcuts) {
		wrapped[method] = (input: unknown, options?: KyOptions) => call(input, {...options, method});
	}

	const source = instance as unknown as Record<string, unknown>;
	wrapped.extend = (options: unknown) => createKyWrapper(engine, deps, (source.extend as (options: unknown) => K)(options));
	wrapped.create = (options: unknown) => createKyWrapper(engine, deps, (source.create as (options: unknown) => K)(options));
	wrapped.stop = source.stop;
	wrapped.retry = source.retry;
	return wrapped as unknown as K;
}
