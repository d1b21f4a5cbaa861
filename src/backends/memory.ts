import type {AcquireOptions, Lease, LockBackend} from '../core/backend.js';
import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import {Engine} from '../core/engine.js';
import {canonicalKeys} from '../keys/key.js';
import {Emitter} from '../core/events.js';
import {Limiter} from '../core/limiter.js';

export type MemoryBackendOptions = {
	/**
	Make several `createLanes()` instances of this process that are given this backend exclude each
	other: each of their operations also takes a lease from it, with the same tree-aware FIFO rules as
	one instance's lanes. Without it the backend only marks the default, and every instance's own lanes
	are all the exclusion there is (the fastest path).
	@default false
	@example
	```
	const backend = memoryBackend({shared: true});
	const a = createLanes({backend});
	const b = createLanes({backend}); // a write of `a` and one of `b` on the same key never overlap
	```
	*/
	readonly shared?: boolean | undefined;
};

/** `memoryBackend()`: a lock in this process's memory. */
export type MemoryBackend = LockBackend & {
	acquire(keys: readonly string[], options: AcquireOptions): Promise<Lease>;
};

/** Never aborts: a lease in this process's memory cannot be lost while the process lives. */
const neverLost = new AbortController().signal;

/**
The default backend: locks in this process's memory. Zero set-up. Every backend implements the same
`acquire()` contract (tree-aware FIFO, all-or-none, fencing tokens); use `redisBackend()` from
`writelane/redis` when several processes or machines write to the same API.
*/
export function memoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
	if (typeof options !== 'object' || options === null) {
		throw invalid('options', 'an object', options);
	}

	const {shared = defaults.memoryBackend.shared} = options;
	if (typeof shared !== 'boolean') {
		throw invalid('shared', 'a boolean', shared);
	}

	// The lock is a lanes engine of its own whose operations last from grant to release; reads are the
	// shared kind, so a read waits for earlier writes and a write for earlier reads, as in `reads: 'shared'`.
	let engine: Engine | undefined;
	const lock = (): Engine =>
		(engine ??= new Engine({
			reads: 'shared',
			maxQueuePerKey: Number.POSITIVE_INFINITY,
			queueTimeout: false,
			limiter: new Limiter(Number.POSITIVE_INFINITY, undefined),
			backend: {name: 'memory', inProcess: true},
			emitter: new Emitter(),
		}));

	return {
		name: 'memory',
		inProcess: !shared,
		acquire(keys, acquireOptions) {
			const kind = acquireOptions?.kind;
			if (kind !== 'read' && kind !== 'write') {
				return Promise.reject(invalid('kind', "`'read'` or `'write'`", kind));
			}

			let list: string[];
			try {
				list = canonicalKeys(keys, 'keys');
			} catch (error) {
				return Promise.reject(error);
			}

			const {signal} = acquireOptions;
			return new Promise<Lease>((resolve, reject) => {
				let release!: () => void;
				const held = new Promise<void>(resolve_ => {
					release = resolve_;
				});
				lock()
					.run(
						list,
						kind,
						context => {
							resolve({fencingToken: context.fencingToken, signal: neverLost, release});
							return held;
						},
						{signal},
					)
					// A rejection before the grant (abort, bad keys) is the caller's; after it there is none.
					.catch(reject);
			});
		},
	};
}
