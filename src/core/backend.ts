import type {OperationKind} from '../keys/types.js';

/** What a backend grants: exclusive (or shared, for reads) use of a set of keys until released. */
export type Lease = {
	/** Monotonically increasing per backend; pass it to a store that can reject stale writers. */
	readonly fencingToken: number;
	/** Aborts when the lease is lost (expired, taken over); the running operation must stop. */
	readonly signal?: AbortSignal | undefined;
	release(): Promise<void> | void;
};

/**
Where lane locks live beyond this process. The in-process lanes always order and exclude the
operations of one `createLanes()` instance; a backend adds exclusion across instances, processes
and machines. It is asked only after the in-process lane is held, with the keys in canonical order.
*/
export type LockBackend = {
	readonly name: string;
	/** When true the in-process lanes are all the exclusion there is and `acquire` is never called. */
	readonly inProcess?: boolean;
	acquire?(
		keys: readonly string[],
		options: {readonly kind: OperationKind; readonly signal?: AbortSignal | undefined},
	): Promise<Lease>;
	close?(): Promise<void> | void;
};
