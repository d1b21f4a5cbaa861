import {Admission} from './http/admission.js';
import {createLaneFetch} from './adapters/fetch.js';
import type {HttpDeps} from './http/attempt.js';
import {Pipeline, pipelines, type Resolve} from './http/pipeline.js';
import type {Transport} from './http/outgoing.js';
import {createKyWrapper, type KyInstanceLike} from './adapters/ky.js';
import {type Mutate, type UpdateOptions, type UpdateResult, update} from './adapters/update.js';
import {memoryBackend} from './backends/memory.js';
import {invalid} from './errors/describe.js';
import {ClosedError} from './errors/errors.js';
import {Engine, type LaneContext, type OperationOptions, type Stats} from './core/engine.js';
import {Emitter, type LaneEventHandler, type LaneEventType} from './core/events.js';
import {Limiter} from './core/limiter.js';
import {type LanesOptions, normalizeCache, normalizeOptions, normalizePacing} from './options.js';
import {canonicalKey, canonicalKeys} from './keys/key.js';
import type {LaneKeys, OperationKind} from './keys/types.js';
import {classify} from './keys/classify.js';
import {compileKeys} from './keys/compile.js';
import {laneRequestOf} from './keys/request.js';
import {Coalescer} from './http/coalesce.js';
import {Contention} from './occ/contention.js';
import {EtagCache} from './http/etag-cache.js';
import {Pacer} from './pacing/pacer.js';

/** Options of `lanes.close()`. */
export type CloseOptions = {
	/**
	`false`: let queued operations run, then resolve. `true`: reject queued operations with
	`ClosedError` at once; running ones finish.
	@default false
	*/
	readonly abort?: boolean;
};

/** Options of `lanes.wrapFetch()`. */
export type WrapFetchOptions = {
	/**
	The lane key(s) every request of the returned fetch takes, instead of what the `keys` rule
	decides per request; `[]` takes no lane (only the global limits). The preset, if any, still
	paces and observes the requests.
	@default the `keys` rule decides
	@example lanes.wrapFetch(fetch, {keys: 'objects/9f2c'})
	*/
	readonly keys?: LaneKeys | undefined;
	/**
	With `keys`: whether the requests read or write their lanes.
	@default by method: GET, HEAD, OPTIONS and TRACE read, everything else writes
	*/
	readonly kind?: OperationKind | undefined;
};

/** The lanes a request takes, as the `keys` rule decides; see `lanes.keysOf()`. */
export type RequestLanes = {
	/** Canonical, sorted, unique; empty when the request takes no lane. */
	readonly keys: readonly string[];
	readonly kind: OperationKind;
};

/** A lanes instance; see `createLanes()`. */
export type Lanes = {
	/** A fetch-compatible function (using the `fetch` option or `globalThis.fetch`) whose requests run in their lanes. */
	readonly fetch: typeof globalThis.fetch;
	/** Wraps any fetch-compatible function the same way (or, with `{keys}`, into fixed lanes). */
	wrapFetch(fetchImpl: typeof globalThis.fetch, options?: WrapFetchOptions): typeof globalThis.fetch;
	/**
	The lanes `fetch(input, init)` would take now, by this instance's `keys` rule (a rule that learns
	from responses, like `capacities()`, may answer differently later). Sends nothing; reads the
	body from a clone when the rule looks at it.
	*/
	keysOf(input: RequestInfo | URL, init?: RequestInit): Promise<RequestLanes>;
	/** A ky instance whose every call, with all of ky's own retries, runs inside one hold of its lane. */
	wrapKy<K extends KyInstanceLike>(ky: K): K;
	/** Runs `fn` holding the write lane of `keys` (all or none): after the earlier writes, reads (in 'shared' mode) and tree conflicts of those keys. */
	write<T>(keys: LaneKeys, fn: (context: LaneContext) => T | PromiseLike<T>, options?: OperationOptions): Promise<T>;
	/** Runs `fn` as a read of `keys`: at once in 'parallel' mode, after the writes queued before it in 'shared' mode. */
	read<T>(keys: LaneKeys, fn: (context: LaneContext) => T | PromiseLike<T>, options?: OperationOptions): Promise<T>;
	/** GET `url`, apply `mutate`, write the result, all under one write-lane hold. */
	update<T = unknown, W = T>(url: string | URL, mutate: Mutate<T, W>, options?: UpdateOptions): Promise<UpdateResult<T | W>>;
	/** A snapshot of the lanes. */
	stats(): Stats;
	/** Subscribes to one event type (or `'*'` for all); returns the unsubscribe function. */
	on<T extends LaneEventType | '*'>(type: T, handler: LaneEventHandler<T>): () => void;
	off<T extends LaneEventType | '*'>(type: T, handler: LaneEventHandler<T>): void;
	/** Resolves when everything, or the lane `key` and the lanes below it, has drained. */
	onIdle(key?: string): Promise<void>;
	/** Stops taking operations, drains (or with `{abort: true}` drops the queued ones), then releases the backend. */
	close(options?: CloseOptions): Promise<void>;
};

/** A decision of fixed keys instead of the rule's; the preset's pacing, observing and versioning stay. */
function fixedKeys(keys: readonly string[], kind: OperationKind | undefined): Resolve {
	if (kind !== undefined && kind !== 'read' && kind !== 'write') {
		throw invalid('kind', "`'read'`, `'write'` or undefined", kind);
	}

	return request => ({keys, kind: kind ?? classify(request.method)});
}

const eventTypes = new Set(['enqueue', 'start', 'retry', 'done', 'error', 'idle', '*']);

/**
Creates a set of per-resource lanes: mutating requests to one resource run one after another in call
order, reads run in parallel, global concurrency and rate limits hold, and retries stay inside the lane.
*/
export function createLanes(options?: LanesOptions): Lanes {
	const normalized = normalizeOptions(options);
	const keys = compileKeys(normalized.keys);
	// A preset's published limit applies unless the caller chose one (or `false`).
	const rateLimit = options?.rateLimit === undefined ? (keys.preset?.rateLimit ?? normalized.rateLimit) : normalized.rateLimit;
	const limiter = new Limiter(normalized.concurrency, rateLimit);
	const emitter = new Emitter();
	const backend = normalized.backend ?? memoryBackend();
	const engine = new Engine({
		reads: normalized.reads,
		maxQueuePerKey: normalized.maxQueuePerKey,
		queueTimeout: normalized.queueTimeout,
		limiter,
		backend,
		emitter,
	});
	const deps: HttpDeps = {
		limiter,
		emitter,
		retry: normalized.retry,
		keys,
		pacing: normalized.pacing ? new Pacer(normalizePacing(normalized.pacing)) : undefined,
		cache: normalized.cache ? new EtagCache(normalizeCache(normalized.cache)) : undefined,
		admission: new Admission(),
		backlog: keys => engine.backlog(keys),
	};
	const pipeline = new Pipeline(engine, deps, {
		coalescer: normalized.coalesce ? new Coalescer() : undefined,
		uncertain: normalized.uncertain,
		supersede: normalized.supersede,
		idempotencyHeader: normalized.idempotencyHeader,
		contention: new Contention(),
	});
	const defaultTransport: Transport = normalized.fetch ?? ((input, init) => globalThis.fetch(input, init));

	const wrapFetch = (fetchImpl: typeof globalThis.fetch, options?: WrapFetchOptions): typeof globalThis.fetch => {
		if (typeof fetchImpl !== 'function') {
			throw invalid('fetchImpl', 'a fetch function', fetchImpl);
		}

		return createLaneFetch(pipeline, fetchImpl, options?.keys === undefined ? undefined : fixedKeys(canonicalKeys(options.keys, 'keys'), options.kind));
	};

	const enter = <T>(kind: 'read' | 'write', keys: LaneKeys, fn: (context: LaneContext) => T | PromiseLike<T>, options?: OperationOptions): Promise<T> => {
		const limited = limiter.limited;
		if (limited && typeof fn !== 'function') {
			return Promise.reject(invalid('fn', 'a function', fn));
		}

		// The engine takes canonical keys. What it refuses before looking at them (closed, not a
		// function, already aborted) is refused here first, so a call wrong in two ways gets the same error.
		if (engine.closed) {
			return Promise.reject(new ClosedError());
		}

		if (typeof fn !== 'function') {
			return Promise.reject(invalid('fn', 'a function', fn));
		}

		const signal = options?.signal;
		if (signal?.aborted) {
			return Promise.reject(signal.reason);
		}

		let canonical: string | string[];
		try {
			// A single key stays a string: the engine's fast path for plain writes takes only that.
			canonical = typeof keys === 'string' ? canonicalKey(keys) : canonicalKeys(keys);
		} catch (error) {
			return Promise.reject(error);
		}

		if (!limited) {
			return engine.run(canonical, kind, fn, options);
		}

		// The whole function is one request as far as the global limiter knows.
		return engine.run(canonical, kind, context => limiter.run(async () => fn(context), context.signal, engine.backlog(context.keys)), options);
	};

	// An HTTP call made earlier may still be reading its body: it enters its lane first.
	const submit = <T>(kind: 'read' | 'write', keys: LaneKeys, fn: (context: LaneContext) => T | PromiseLike<T>, options?: OperationOptions): Promise<T> =>
		pipeline.inOrder(
			() => undefined,
			() => enter(kind, keys, fn, options),
		);

	let closing: Promise<void> | undefined;

	const lanes: Lanes = {
		fetch: createLaneFetch(pipeline, defaultTransport),
		wrapFetch,
		wrapKy: ky => createKyWrapper(pipeline, ky),
		keysOf: async (input, init) => keys.resolve(await laneRequestOf(input, init, keys.readsBody)),
		write: (keys, fn, options) => submit('write', keys, fn, options),
		read: (keys, fn, options) => submit('read', keys, fn, options),
		update: (url, mutate, options) => update(pipeline, defaultTransport, url, mutate, options),
		stats: () => engine.stats(),
		on(type, handler) {
			if (!eventTypes.has(type)) {
				throw invalid('type', `one of ${[...eventTypes].join(', ')}`, type);
			}

			if (typeof handler !== 'function') {
				throw invalid('handler', 'a function', handler);
			}

			return emitter.on(type, handler as never);
		},
		off(type, handler) {
			emitter.off(type, handler as never);
		},
		onIdle(key) {
			if (key === undefined) {
				return engine.onIdle();
			}

			try {
				return engine.onIdle(canonicalKey(key));
			} catch (error) {
				return Promise.reject(error);
			}
		},
		close(options = {}) {
			closing ??= (async () => {
				await engine.close(options.abort === true);
				limiter.dispose();
				await backend.close?.();
			})();
			return closing;
		},
	};
	pipelines.set(lanes, pipeline);
	return lanes;
}
