import {clock} from '../core/clock.js';
import type {LaneContext} from '../core/engine.js';
import {invalid} from '../errors/describe.js';
import {scrubErrorText, secretsOf} from '../errors/redact.js';
import {attempt, emitRetry, InFlightFailure} from '../http/attempt.js';
import {Outgoing, prepareRequest, type Transport} from '../http/outgoing.js';
import type {Call, Pipeline} from '../http/pipeline.js';
import {requestError} from '../keys/request.js';

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

type CallKy = (input: unknown, options?: KyOptions) => Promise<Response>;

/**
Wraps a ky instance so that each call, with all of ky's own retries, runs inside one hold of its
lane. The lane is taken in a `beforeRequest` hook (so waiting for it does not count against ky's
`timeout`) and released when ky's promise settles; each of ky's attempts goes through the pipeline's
`attempt()` (pacing, global slot, ETag cache, observing) without its retries, since ky retries.
A write whose last attempt was sent and got no answer (ky's `timeout`, the caller's signal, a broken
connection) may still be applied: the call rejects with `UncertainOutcomeError` (the ky error is its
`cause`) and the lane applies the `uncertain` policy before its next write.
*/
export function createKyWrapper<K extends KyInstanceLike>(pipeline: Pipeline, instance: K): K {
	if (typeof instance !== 'function' || typeof instance.extend !== 'function') {
		throw invalid('ky', 'a ky instance', instance);
	}

	// ky exposes an instance's defaults only to `extend(fn)`; read its fetch so the wrapper keeps it.
	let parentFetch: Transport | undefined;
	(instance.extend as (options: (parent: {fetch?: Transport}) => object) => unknown)(parent => {
		parentFetch = parent.fetch;
		return {};
	});
	const baseFetch: Transport = parentFetch ?? ((input, init) => globalThis.fetch(input, init));
	const callKy = instance as unknown as CallKy;
	const {deps} = pipeline;

	const call = (input: unknown, options: KyOptions = {}): Promise<Response> => {
		let held: Promise<{call: Call; context: LaneContext}> | undefined;
		let release!: () => void;
		const finished = new Promise<void>(resolve => {
			release = resolve;
		});
		// A write attempt that was sent and got no answer (ky's timeout, the caller's signal, a broken
		// connection): until a later attempt is answered, its outcome is unknown.
		let inDoubt: InFlightFailure | undefined;
		// Attempts sent so far, and when the last one ended.
		let attempts = 0;
		let ended = 0;

		const hold = (request: Request) => {
			held ??= pipeline.inOrder(
				() => pipeline.prepared(prepareRequest(request, deps.keys.readsBody)),
				async ready => ({call: ready, context: await pipeline.hold(ready, finished)}),
			);
			return held;
		};

		// ky runs this hook before every attempt. On the first, ky takes a Request the hook returns: the
		// one with the idempotency key, which its retries then repeat.
		const beforeRequest = async (request: Request): Promise<Request | undefined> => {
			const first = held === undefined;
			const {call} = await hold(request);
			const sent = call.outgoing.toRequest();
			return first && sent !== request ? sent : undefined;
		};

		const kyFetch = async (request: Request, init?: RequestInit): Promise<Response> => {
			const {call, context} = await hold(request);
			let raw: unknown;
			const transport: Transport = async input => {
				try {
					return await baseFetch(input, init);
				} catch (error) {
					raw = error;
					throw error;
				}
			};

			attempts++;
			try {
				const response = await attempt(deps, transport, Outgoing.of(request), {context, laneRequest: call.laneRequest, summary: call.summary, retries: false});
				inDoubt = undefined;
				return response;
			} catch (error) {
				if (!(error instanceof InFlightFailure)) {
					throw error;
				}

				if (call.kind === 'write') {
					inDoubt = error;
				}

				// ky decides its retries by what the transport threw.
				throw raw ?? error.error;
			} finally {
				ended = clock.now();
			}
		};

		// ky waits before a retry, then runs this hook: the event reports the wait that was.
		const beforeRetry = async ({error}: {error: unknown}): Promise<void> => {
			if (held === undefined) {
				return;
			}

			const {call, context} = await held;
			const response = (error as {response?: unknown} | null)?.response;
			const status = response instanceof Response ? response.status : undefined;
			emitRetry(deps, context, call.summary, {attempt: attempts, delayMs: Math.max(0, clock.now() - ended), status, error: status === undefined ? error : undefined});
		};

		const hooks = options.hooks ?? {};
		let result: Promise<Response>;
		try {
			result = callKy(input, {
				...options,
				fetch: kyFetch,
				hooks: {...hooks, beforeRequest: [...(hooks.beforeRequest ?? []), beforeRequest], beforeRetry: [beforeRetry, ...(hooks.beforeRetry ?? [])]},
			});
		} catch (error) {
			// ky builds its Request at once; the platform's refusal quotes the URL, password and query included.
			throw requestError(input, options.headers === undefined ? undefined : {headers: options.headers as HeadersInit}, error, true);
		}

		const outcome = new Promise<Response>((resolve, reject) => {
			result.then(
				response => {
					release();
					resolve(response);
				},
				async (error: unknown) => {
					// Scrubbed before the caller sees it: ky quotes the URL, query included.
					const request = (error as {request?: unknown} | null)?.request;
					if (request instanceof Request) {
						scrubErrorText(error, secretsOf(request.headers, request.url));
					}

					const failure = inDoubt;
					if (failure === undefined || held === undefined) {
						release();
						reject(error);
						return;
					}

					// The write may still be applied: the lane applies the `uncertain` policy before its next write.
					const {call, context} = await held;
					pipeline
						.uncertain(context, call, new InFlightFailure(error, failure.aborted), baseFetch, reject)
						.catch(reject)
						.finally(release);
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
	wrapped.extend = (options: unknown) => createKyWrapper(pipeline, (source.extend as (options: unknown) => K)(options));
	wrapped.create = (options: unknown) => createKyWrapper(pipeline, (source.create as (options: unknown) => K)(options));
	wrapped.stop = source.stop;
	wrapped.retry = source.retry;
	return wrapped as unknown as K;
}
