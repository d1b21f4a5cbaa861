import type {OperationKind} from './types.js';

/** What `LockBackend.acquire()` is asked for besides the keys. */
export type AcquireOptions = {
	/**
	`'write'` excludes every other holder of a key, of its ancestors and of its descendants; `'read'`
	is shared with other reads and excludes only writes (the reader side of `reads: 'shared'`).
	*/
	readonly kind: OperationKind;
	/** Aborting it while the lease is awaited gives up the place in line and rejects with `signal.reason`. */
	readonly signal?: AbortSignal | undefined;
};

/**
What a backend grants: exclusive (or, for reads, shared) use of a set of keys until released.

The contract every backend keeps (one test suite checks memory and Redis alike):
- Conflicting requests are granted in the order they reached the backend (FIFO per key), and a
  request waits only for requests that reached it earlier, so multi-key requests never deadlock.
- `fencingToken` grows with every grant: a later holder of a key (or of a related key) always gets
  a higher token than the holder before it, even one whose lease was lost.
- `release()` may be called any number of times; only the first call gives the keys back, and it
  never releases a later holder's grant.
- `signal` aborts, with a `BackendError` as its reason, when the keys are no longer safely held
  (lease expired, lock store lost its state or became unreachable for longer than the lease). The
  operation must stop: another holder may already have the keys.
*/
export type Lease = {
	/** Grows with every grant of a key; pass it to a store that can reject writers holding a stale lock. */
	readonly fencingToken: number;
	/** Aborts when the lease is lost (expired, taken over); the running operation must stop. */
	readonly signal?: AbortSignal | undefined;
	/** Gives the keys back; idempotent. Resolves once the backend has recorded it (or given up trying). */
	release(): Promise<void> | void;
};

/**
Where lane locks live beyond one `createLanes()` instance. The in-process lanes always order and
exclude the operations of one instance; a backend adds exclusion across instances, processes and
machines. It is asked only after the in-process lane is held, with the keys canonical, sorted and
unique (`objects/1` is the parent of `objects/1/blocks/7`, and the two conflict).
*/
export type LockBackend = {
	readonly name: string;
	/** When true the in-process lanes are all the exclusion there is and `acquire` is never called. */
	readonly inProcess?: boolean;
	/**
	Resolves with a lease once `keys` are held in the requested mode, all of them or none. Rejects
	when the backend cannot grant them safely (for example its store is unreachable) and with
	`signal.reason` when the signal aborts first; nothing stays held after a rejection.
	*/
	acquire?(keys: readonly string[], options: AcquireOptions): Promise<Lease>;
	/**
	Called by `lanes.close()` once that instance has drained. Stops the backend's background work
	(pending acquires reject, leases still held are released); a backend without any (memory) keeps
	serving the other instances that share it.
	*/
	close?(): Promise<void> | void;
};
