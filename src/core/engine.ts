/*
The lane engine: per-key FIFO, tree-aware exclusion, all-or-none multi-key holds, O(1) per operation.

THE GRAPH. Every operation, when submitted, records which earlier *unfinished* operations it
conflicts with, and starts once all of them have finished. An operation only ever waits for
operations submitted before it, so the wait graph is acyclic: multi-key operations cannot deadlock,
and conflicting operations start in submission order (FIFO).

A key is a node in a tree (`objects/1` is the parent of `objects/1/blocks/7`). Each node keeps
- `tail`: the last submitted, unfinished write holding that exact key; a new write on the node waits
  for it and, through it, for everything before it, so a 100k-deep queue costs one edge per operation;
- `readers` (reads: 'shared' only): unfinished reads submitted since `tail`;
- its children: the active child nodes (a list through the nodes themselves, no map to keep up), so a
  write on `objects/1` finds the writes below it.
A write waits for the tails (and shared readers) of its key, its ancestors and its descendants.
Nodes exist only while some operation in their subtree is unfinished: memory follows the active
keys, not the keys ever seen. A queued operation that is aborted or times out rejects at once and
stops counting as queued. Its dependents wait instead for what they conflict with among what it
waited for, so an aborted multi-key operation holds back nothing on its other keys. While it is
still the tail of one of its keys it stays in the graph as a tombstone, so that operations
submitted later that meet it inherit the same way; it leaves the moment its own dependencies finish
or a later write replaces it as the tail. Every operation keeps the set of *live* operations it
waits for (never a tombstone, never a finished one), so inheriting is one step, never a walk down a
chain of tombstones: cancelling costs O(dependents x blockers), O(1) in a deep queue on one key,
whatever the order of the aborts and however deep the queue.

SEGMENTS. Most traffic is plain: single-key writes with no signal, no timeout and no listener, on a
key with no other activity in its tree. Such writes skip the per-operation record and promise
resolvers: they join the key's open *segment*, one graph node standing for a FIFO of tasks whose
caller promises are chained (`previous.then(pump)`), which costs about what a bare promise chain
costs. Anything else that touches the key (a write with a signal, a read in 'shared' mode, a write
on an ancestor or descendant, a multi-key operation) depends on the segment like on any write and
closes it to new tasks, so the order across both paths stays the submission order.
*/
import type {OperationKind} from './types.js';
import type {Lease, LockBackend} from './backend.js';
import {clock, type TimerHandle} from './clock.js';
import {invalid} from '../errors/describe.js';
import type {Emitter, RequestSummary} from './events.js';
import type {Limiter} from './limiter.js';
import {BackendError, ClosedError, LaneTimeoutError, QueueFullError} from '../errors/errors.js';

/** What an operation's function receives. */
export type LaneContext = {
	/** The operation's id, unique per lanes instance (events carry the same id). */
	readonly id: number;
	/** The keys held, canonical and sorted. */
	readonly keys: readonly string[];
	/** Whether the keys are held as a reader or a writer. */
	readonly kind: OperationKind;
	/** The caller's signal (with a distributed backend, it also aborts when the lease is lost). */
	readonly signal: AbortSignal | undefined;
	/** Increases with every grant of a lane; pass it to a store that can reject writers holding a stale lock. */
	readonly fencingToken: number;
};

/** Per-call options of `write()`, `read()` and the adapters. */
export type OperationOptions = {
	/** Aborting removes a queued operation from its lane at once (rejecting with `signal.reason`) and is passed to a running one. */
	readonly signal?: AbortSignal | undefined;
};

/** Internal per-call options of the adapters. */
export type RunOptions = OperationOptions & {
	/**
	Called at submission when the operation waits for exactly one operation, still queued, on the same
	single key: nothing else can come between the two. Gets that operation's task (superseding PUTs).
	*/
	readonly follows?: ((previous: Task<unknown>) => void) | undefined;
};

/** One row of `stats().lanes`. */
export type LaneStats = {
	readonly key: string;
	/** Operations waiting for this lane. */
	readonly queued: number;
	/** Operations holding it (several only for reads). */
	readonly running: number;
	/** How long the longest-waiting operation has waited, in ms (0 when none waits). */
	readonly waitMs: number;
	/** How long the longest-running holder has held it, in ms (0 when none runs). */
	readonly heldMs: number;
};

export type Stats = {
	/** Operations holding their lanes (running, or waiting for a global slot). */
	readonly active: number;
	/** Operations waiting for their lanes. */
	readonly queued: number;
	/** Operations holding their lanes but waiting for a global slot (concurrency, rate limit, 429 pause). */
	readonly waitingForSlot: number;
	/** Lanes with at least one queued or running operation. */
	readonly lanes: readonly LaneStats[];
};

export type EngineOptions = {
	readonly reads: 'parallel' | 'shared';
	readonly maxQueuePerKey: number;
	readonly queueTimeout: number | false;
	readonly limiter: Limiter;
	readonly backend: LockBackend;
	readonly emitter: Emitter;
};

export type Task<T> = (context: LaneContext) => T | PromiseLike<T>;

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;
const CANCELLED = 3;

const resolved = Promise.resolve();

/** Compacting a segment's task array once this many entries have run keeps a never-draining lane bounded. */
const compactAfter = 1024;
/** `/`, which separates a tree key's segments. */
const slash = 47;

/** An item of a `Chain`: the links are its own fields. */
type Link<T> = {prev: T | undefined; next: T | undefined};

/** A list through its items' own `prev` / `next`, oldest first: adding or removing one is O(1), with nothing to hash. */
class Chain<T extends Link<T>> {
	first: T | undefined = undefined;
	last: T | undefined = undefined;
	size = 0;

	push(item: T): void {
		const {last} = this;
		if (last === undefined) {
			this.first = item;
		} else {
			last.next = item;
			item.prev = last;
		}

		this.last = item;
		this.size++;
	}

	remove(item: T): void {
		const {prev, next} = item;
		if (prev === undefined) {
			this.first = next;
		} else {
			prev.next = next;
		}

		if (next === undefined) {
			this.last = prev;
		} else {
			next.prev = prev;
		}

		item.prev = undefined;
		item.next = undefined;
		this.size--;
	}
}

/** Whether `node` has active children. */
function hasChildren(node: Node): boolean {
	return node.children !== undefined && node.children.size > 0;
}

class Node {
	readonly key: string;
	readonly parent: Node | undefined;
	/** `[this]`, shared by the single-key operations on this key. */
	readonly self: Node[];
	/** The active child nodes, oldest first; made with the first child. */
	children: Chain<Node> | undefined = undefined;
	/** Siblings, in the parent's `children`. */
	prev: Node | undefined = undefined;
	next: Node | undefined = undefined;
	tail: Operation | undefined = undefined;
	readers: Set<Operation> | undefined = undefined;
	queued = 0;
	/** Operations holding this lane; parallel reads outside the operation graph are not counted (see `Engine.#readNow()`). */
	running = 0;
	idleWaiters: Array<() => void> | undefined = undefined;
	/** Taken out of the engine's map (a later operation on the key gets a new node): what `#prune()` checks instead of a lookup. */
	deleted = false;

	constructor(key: string, parent: Node | undefined) {
		this.key = key;
		this.parent = parent;
		this.self = [this];
	}

	get keys(): readonly string[] {
		return [this.key];
	}
}

/** The context a task gets; one per start. */
class Context implements LaneContext {
	readonly id: number;
	readonly keys: readonly string[];
	readonly kind: OperationKind;
	readonly signal: AbortSignal | undefined;
	readonly fencingToken: number;

	constructor(id: number, keys: readonly string[], kind: OperationKind, signal: AbortSignal | undefined, fencingToken: number) {
		this.id = id;
		this.keys = keys;
		this.kind = kind;
		this.signal = signal;
		this.fencingToken = fencingToken;
	}
}

/**
A parallel read that runs outside the operation graph (see `Engine.#readNow()`): no lane node is made
for it, it is only listed (oldest first) for `stats()`, `onIdle(key)` and the `idle` events.
*/
class QuickRead {
	prev: QuickRead | undefined = undefined;
	next: QuickRead | undefined = undefined;

	constructor(
		readonly keys: readonly string[],
		readonly started: number,
	) {}
}

/** Whether `key` is `under` or below it. */
function isAtOrBelow(key: string, under: string): boolean {
	return key === under || (key.length > under.length && key.charCodeAt(under.length) === 47 && key.startsWith(under));
}

class Operation {
	readonly id: number;
	readonly kind: OperationKind;
	/** Waits for and blocks others (writes; reads in 'shared' mode). */
	readonly ordered: boolean;
	readonly nodes: Node[];
	state = QUEUED;
	enqueuedAt: number;
	startedAt = 0;
	pending = 0;
	/** The first dependent, kept out of an array because most operations have at most one. */
	dependent: Single | undefined = undefined;
	dependents: Single[] | undefined = undefined;
	/** Dependents retired (finished early) since `dependents` was last compacted. */
	retired = 0;
	prev: Operation | undefined = undefined;
	next: Operation | undefined = undefined;

	constructor(id: number, kind: OperationKind, ordered: boolean, nodes: Node[], now: number) {
		this.id = id;
		this.kind = kind;
		this.ordered = ordered;
		this.nodes = nodes;
		this.enqueuedAt = now;
	}

	get keys(): readonly string[] {
		return this.nodes.length === 1 ? this.nodes[0]!.keys : this.nodes.map(node => node.key);
	}
}

/** An operation with its own task and caller promise. */
class Single extends Operation {
	readonly task: Task<unknown>;
	readonly signal: AbortSignal | undefined;
	readonly request: RequestSummary | undefined;
	resolve!: (value: unknown) => void;
	reject!: (reason: unknown) => void;
	timer: TimerHandle | undefined = undefined;
	/** It is among its signal's watched operations. */
	watched = false;
	lease: Lease | undefined = undefined;
	/** Set when a distributed backend lost the lease while the task ran. */
	leaseLost: Error | undefined = undefined;
	unwatchLease: (() => void) | undefined = undefined;
	/**
	The live operations it waits for, so that a tombstone can hand its dependents exactly what they
	conflict with: the first in a field (most operations wait for one), the rest in a set.
	*/
	blocker: Operation | undefined = undefined;
	blockers: Set<Operation> | undefined = undefined;

	waitsFor(operation: Operation): boolean {
		return this.blocker === operation || this.blockers?.has(operation) === true;
	}

	addBlocker(operation: Operation): void {
		if (this.blocker === undefined) {
			this.blocker = operation;
		} else {
			(this.blockers ??= new Set()).add(operation);
		}
	}

	deleteBlocker(operation: Operation): void {
		if (this.blocker === operation) {
			this.blocker = undefined;
		} else {
			this.blockers?.delete(operation);
		}
	}

	/** A snapshot: callers add edges while they walk it. */
	liveBlockers(): Operation[] {
		const list = this.blockers === undefined ? [] : [...this.blockers];
		if (this.blocker !== undefined) {
			list.push(this.blocker);
		}

		return list;
	}

	constructor(
		id: number,
		kind: OperationKind,
		ordered: boolean,
		nodes: Node[],
		now: number,
		task: Task<unknown>,
		signal: AbortSignal | undefined,
		request: RequestSummary | undefined,
	) {
		super(id, kind, ordered, nodes, now);
		this.task = task;
		this.signal = signal;
		this.request = request;
	}
}

/** A run of plain writes on one key; see SEGMENTS above. Runs (state RUNNING) from creation to drain. */
class Segment extends Operation {
	readonly node: Node;
	/** Tasks not yet started from `head` on, each followed by when it was submitted (one array: fewer objects per lane). */
	queue: Array<Task<unknown> | number | undefined> | undefined = undefined;
	head = 0;
	get waiting(): number {
		return this.queue === undefined ? 0 : (this.queue.length - this.head) >> 1;
	}

	/** Whether plain writes may still join; closed once anything else depends on the segment. */
	open = true;
	/** A task is running. */
	busy = false;
	/** Set when the queued tasks must not run (close with abort, an uncertain write with `'fail'`). */
	abortReason: (() => unknown) | undefined = undefined;
	/** The caller promise of the last task, which the next one chains on. */
	last: Promise<unknown> = resolved;
	/** Opens the chain for tasks submitted while the first task ran synchronously. */
	gate: ((value: unknown) => void) | undefined = undefined;
	readonly engine: Engine;
	// Handlers are made on first use: a lane that only ever sees one write (a million distinct keys) needs no pump.
	#pump: (() => unknown) | undefined = undefined;
	#done: (() => void) | undefined = undefined;

	constructor(engine: Engine, id: number, node: Node, now: number) {
		super(id, 'write', true, node.self, now);
		this.engine = engine;
		this.node = node;
		this.state = RUNNING;
		this.startedAt = now;
	}

	get pump(): () => unknown {
		return (this.#pump ??= () => this.engine._pump(this));
	}

	/** Ends the running task however it settled (see `endingWith()`). */
	get done(): () => void {
		return (this.#done ??= () => {
			this.engine._segmentTaskDone(this);
		});
	}
}

function isSegment(operation: Operation): operation is Segment {
	return operation instanceof Segment;
}

/**
A task's `result` as a promise, with `end` (which releases its lane) run once it settles, in a
reaction registered before any of the caller's: the caller never resumes with the lane still held.
The caller gets the task's promise itself; a promise of our own would be resolved with the value once
more, and resolving one with an object (a Response) looks its `then` up each time.
*/
function endingWith(result: PromiseLike<unknown>, end: () => void): Promise<unknown> {
	const promise = Promise.resolve(result);
	promise.then(end, end);
	return promise;
}

/** Whether `a` and `b` may not run at once: a write on either, and a key of one equal to, above or below a key of the other. */
function conflicts(a: Operation, b: Operation): boolean {
	if (a.kind === 'read' && b.kind === 'read') {
		return false;
	}

	for (const left of a.nodes) {
		for (const right of b.nodes) {
			if (related(left, right)) {
				return true;
			}
		}
	}

	return false;
}

function related(a: Node, b: Node): boolean {
	for (let node: Node | undefined = a; node; node = node.parent) {
		if (node === b) {
			return true;
		}
	}

	for (let node: Node | undefined = b.parent; node; node = node.parent) {
		if (node === a) {
			return true;
		}
	}

	return false;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
	return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

export class Engine {
	#nodes = new Map<string, Node>();
	readonly #options: EngineOptions;
	readonly #parallelReads: boolean;
	#nextId = 1;
	#grants = 0;
	/** Unfinished operations and segments, oldest first, for stats and close. */
	readonly #operations = new Chain<Operation>();
	#live = 0;
	/** Parallel reads running outside the operation graph (`#readNow()`), oldest first. */
	readonly #quick = new Chain<QuickRead>();
	/** `onIdle(key)` callers waiting for the parallel reads on or below their key. */
	#quickWaiters: Array<{readonly key: string; readonly resolve: () => void}> = [];
	#ready: Operation[] = [];
	#readyHead = 0;
	#draining = false;
	#idleWaiters: Array<() => void> = [];
	#closed = false;
	/** The queued operations of each signal, behind one abort listener. */
	readonly #watchers = new WeakMap<AbortSignal, {readonly waiting: Set<Single>; readonly listener: () => void}>();
	/** Milliseconds are kept relative to this so they stay small integers. */
	readonly #epoch = clock.now();

	constructor(options: EngineOptions) {
		this.#options = options;
		this.#parallelReads = options.reads === 'parallel';
	}

	get closed(): boolean {
		return this.#closed;
	}

	#now(): number {
		return clock.now() - this.#epoch;
	}

	/**
	Runs `task` holding `keys` (all or none). `keys` may be empty: the task then holds no lane. Rejects
	without running the task when the lane is full, the wait times out, the signal aborts or the
	instance is closed.

	Precondition: `keys` are canonical already (`keys/key.ts`): one canonical key, or canonical keys
	sorted and each once (`canonicalKeys()`), as the callers that take keys from users make them. The
	engine does not check: a non-canonical spelling would name a lane of its own, unsorted keys could
	deadlock against another multi-key operation. A single string takes the fast path for plain writes.
	*/
	run<T>(keys: string | readonly string[], kind: OperationKind, task: Task<T>, options?: RunOptions, request?: RequestSummary): Promise<T> {
		if (this.#closed) {
			return Promise.reject(new ClosedError());
		}

		if (typeof task !== 'function') {
			return Promise.reject(invalid('fn', 'a function', task));
		}

		const signal = options?.signal;
		if (signal?.aborted) {
			return Promise.reject(signal.reason);
		}

		const {emitter, queueTimeout, backend, maxQueuePerKey} = this.#options;
		const ordered = kind === 'write' || !this.#parallelReads;
		if (!ordered && signal === undefined && !emitter.active) {
			return this.#readNow(typeof keys === 'string' ? [keys] : keys, task) as Promise<T>;
		}

		let nodes: Node[];
		try {
			if (typeof keys === 'string') {
				const node = this.#node(keys);
				// The request summary only shows in events, which are off: it is not kept.
				if (
					kind === 'write' &&
					signal === undefined &&
					options?.follows === undefined &&
					queueTimeout === false &&
					!emitter.active &&
					backend.inProcess === true
				) {
					const segment = this.#segmentFor(node, maxQueuePerKey);
					if (segment) {
						return this.#append(segment, task) as Promise<T>;
					}
				}

				nodes = node.self;
			} else {
				nodes = this.#nodesFor(keys);
			}
		} catch (error) {
			return Promise.reject(error);
		}

		if (ordered && maxQueuePerKey !== Number.POSITIVE_INFINITY) {
			for (const node of nodes) {
				if (node.queued >= maxQueuePerKey) {
					this.#prune(nodes);
					return Promise.reject(new QueueFullError(node.key, maxQueuePerKey));
				}
			}
		}

		const operation = new Single(this.#nextId++, kind, ordered, nodes, this.#now(), task, signal, request);
		const promise = new Promise<T>((resolve, reject) => {
			operation.resolve = resolve as (value: unknown) => void;
			operation.reject = reject;
		});
		this.#link(operation);
		if (ordered) {
			const previous = nodes.length === 1 ? nodes[0]!.tail : undefined;
			this.#collectDependencies(operation);
			if (options?.follows && operation.pending === 1 && previous instanceof Single && previous.state === QUEUED && previous.nodes.length === 1) {
				options.follows(previous.task);
			}
		}

		for (const node of nodes) {
			node.queued++;
		}

		if (emitter.active) {
			emitter.emit({...this.#describe(operation), type: 'enqueue', queued: nodes[0]?.queued ?? 0});
		}

		if (operation.pending === 0) {
			this.#ready.push(operation);
			this.#drain();
		} else {
			this.#watch(operation);
		}

		return promise;
	}

	/**
	How many operations wait on the busiest of `keys`: the global limiter serves the operations of
	long lanes first, since the longest lane bounds how soon a batch can finish.
	*/
	backlog(keys: readonly string[]): number {
		let most = 0;
		for (const key of keys) {
			const queued = this.#nodes.get(key)?.queued ?? 0;
			if (queued > most) {
				most = queued;
			}
		}

		return most;
	}

	/**
	Resolves when every operation (or every operation on `key` and below it) has finished. Precondition:
	`key` is canonical (`canonicalKey()`); the caller canonicalizes what users give.
	*/
	onIdle(key?: string): Promise<void> {
		if (key === undefined) {
			return this.#live === 0
				? Promise.resolve()
				: new Promise(resolve => {
						this.#idleWaiters.push(resolve);
					});
		}

		return new Promise(resolve => {
			this.#whenIdle(key, resolve);
		});
	}

	/** Calls `resolve` once nothing runs or waits on `key` or below it: no lane node, no parallel read. */
	#whenIdle(key: string, resolve: () => void): void {
		const node = this.#nodes.get(key);
		if (node !== undefined) {
			(node.idleWaiters ??= []).push(() => this.#whenIdle(key, resolve));
		} else if (this.#quickHolds(key, true)) {
			this.#quickWaiters.push({key, resolve: () => this.#whenIdle(key, resolve)});
		} else {
			resolve();
		}
	}

	/** Whether a parallel read runs on `key` (with `below`, on `key` or below it). */
	#quickHolds(key: string, below: boolean): boolean {
		for (let read = this.#quick.first; read; read = read.next) {
			for (const held of read.keys) {
				if (below ? isAtOrBelow(held, key) : held === key) {
					return true;
				}
			}
		}

		return false;
	}

	stats(): Stats {
		const now = this.#now();
		const lanes = new Map<string, {key: string; queued: number; running: number; waitMs: number; heldMs: number}>();
		let active = 0;
		let queued = 0;
		const laneOf = (node: Node) => {
			let lane = lanes.get(node.key);
			if (lane === undefined) {
				lane = {key: node.key, queued: node.queued, running: node.running, waitMs: 0, heldMs: 0};
				lanes.set(node.key, lane);
			}

			return lane;
		};

		// Oldest first, so the first time seen per lane is the longest.
		for (let operation = this.#operations.first; operation; operation = operation.next) {
			if (isSegment(operation)) {
				const waiting = operation.waiting;
				queued += waiting;
				const lane = laneOf(operation.node);
				if (operation.busy) {
					active++;
					lane.heldMs = Math.max(lane.heldMs, now - operation.startedAt);
				}

				if (waiting > 0) {
					lane.waitMs ||= now - (operation.queue![operation.head + 1] as number);
				}

				continue;
			}

			const isQueued = operation.state === QUEUED;
			if (isQueued) {
				queued++;
			} else {
				active++;
			}

			for (const node of operation.nodes) {
				const lane = laneOf(node);
				if (isQueued) {
					lane.waitMs ||= now - operation.enqueuedAt;
				} else {
					lane.heldMs = Math.max(lane.heldMs, now - operation.startedAt);
				}
			}
		}

		active += this.#quick.size;
		for (let read = this.#quick.first; read; read = read.next) {
			for (const key of read.keys) {
				let lane = lanes.get(key);
				if (lane === undefined) {
					const node = this.#nodes.get(key);
					lane = node === undefined ? {key, queued: 0, running: 0, waitMs: 0, heldMs: 0} : laneOf(node);
					lanes.set(key, lane);
				}

				lane.running++;
				// Oldest first: the first read seen on a lane has held it longest.
				lane.heldMs = Math.max(lane.heldMs, now - read.started);
			}
		}

		const rows = [...lanes.values()].filter(lane => lane.queued > 0 || lane.running > 0);
		return {active, queued, waitingForSlot: this.#options.limiter.waiting, lanes: rows};
	}

	/**
	Stops accepting operations. With `abort`, queued operations never start: they reject with
	`ClosedError` (plain writes as soon as the one before them in their lane has ended). Resolves when drained.
	*/
	close(abort: boolean): Promise<void> {
		this.#closed = true;
		if (abort) {
			for (let operation = this.#operations.first, next: Operation | undefined; operation; operation = next) {
				next = operation.next;
				if (isSegment(operation)) {
					operation.abortReason ??= () => new ClosedError('The lanes instance was closed before this operation got its lane', {key: operation.node.key});
				} else if (operation.state === QUEUED) {
					this.#cancel(operation as Single, new ClosedError('The lanes instance was closed before this operation got its lane', {key: operation.keys}));
				}
			}
		}

		return this.onIdle();
	}

	/**
	Rejects every queued operation holding one of `keys` with a fresh `reason()` (plain writes as soon
	as the one before them has ended); they never run.
	*/
	failQueued(keys: readonly string[], reason: () => unknown): void {
		const targets = new Set(keys);
		for (let operation = this.#operations.first, next: Operation | undefined; operation; operation = next) {
			next = operation.next;
			if (isSegment(operation)) {
				if (targets.has(operation.node.key) && operation.waiting > 0) {
					operation.abortReason = reason;
					// Tasks submitted from now on must not join a segment that drops its tasks.
					operation.open = false;
				}
			} else if (operation.state === QUEUED && operation.nodes.some(node => targets.has(node.key))) {
				this.#cancel(operation as Single, reason());
			}
		}
	}

	/**
	A read in 'parallel' mode with nothing to watch (no signal, no events) waits for nothing and blocks
	nothing, so it runs now, outside the operation graph and without a lane node: listed (see
	`QuickRead`) for `stats()`, `onIdle()`, `close()` and the `idle` events, and that is all.
	*/
	#readNow(keys: readonly string[], task: Task<unknown>): Promise<unknown> {
		const read = new QuickRead(keys, this.#now());
		this.#quick.push(read);
		this.#live++;
		let result: unknown;
		try {
			result = task(new Context(this.#nextId++, keys, 'read', undefined, ++this.#grants));
		} catch (error) {
			this.#endRead(read);
			return Promise.reject(error);
		}

		if (!isThenable(result)) {
			this.#endRead(read);
			return Promise.resolve(result);
		}

		return endingWith(result, () => {
			this.#endRead(read);
		});
	}

	#endRead(read: QuickRead): void {
		this.#quick.remove(read);
		this.#live--;
		if (this.#quickWaiters.length > 0) {
			const waiters = this.#quickWaiters;
			this.#quickWaiters = [];
			for (const waiter of waiters) {
				if (this.#quickHolds(waiter.key, true)) {
					this.#quickWaiters.push(waiter);
				} else {
					waiter.resolve();
				}
			}
		}

		if (this.#options.emitter.active) {
			for (const key of read.keys) {
				this.#emitIdle(key, this.#nodes.get(key));
			}
		}

		this.#notifyAllIdle();
	}

	// --- Segments -----------------------------------------------------------------------------

	/** The open segment of `node`, a new one when the node's tree is quiet, or `undefined`. */
	#segmentFor(node: Node, maxQueued: number): Segment | undefined {
		const {tail} = node;
		if (tail !== undefined) {
			// The head task waits only while another task runs; otherwise it is about to start.
			return isSegment(tail) && tail.open && node.queued - (tail.busy ? 0 : 1) < maxQueued ? tail : undefined;
		}

		if (hasChildren(node)) {
			return undefined;
		}

		for (let ancestor: Node | undefined = node; ancestor; ancestor = ancestor.parent) {
			if (ancestor.tail !== undefined || (ancestor.readers !== undefined && ancestor.readers.size > 0)) {
				return undefined;
			}
		}

		const segment = new Segment(this, this.#nextId++, node, this.#now());
		node.tail = segment;
		this.#link(segment);
		return segment;
	}

	#append(segment: Segment, task: Task<unknown>): Promise<unknown> {
		segment.node.queued++;
		if (segment.last === resolved) {
			if (!segment.busy) {
				return this.#startFirst(segment, task);
			}

			// Submitted by the first task while it runs synchronously: its promise does not exist yet, so chain on a gate it opens.
			segment.last = new Promise(open => {
				segment.gate = open;
			});
		}

		if (segment.queue === undefined) {
			segment.queue = [task, this.#now()];
		} else {
			segment.queue.push(task, this.#now());
		}

		const promise = segment.last.then(segment.pump, segment.pump);
		segment.last = promise;
		return promise;
	}

	/** A new segment's first task starts now, like a general operation with nothing to wait for. */
	#startFirst(segment: Segment, task: Task<unknown>): Promise<unknown> {
		let promise: Promise<unknown>;
		try {
			// The segment was made in this same turn: its time is the start's.
			const started = this.#begin(segment, task, segment.enqueuedAt);
			promise = isThenable(started) ? (started as Promise<unknown>) : Promise.resolve(started);
		} catch (error) {
			promise = Promise.reject(error);
		}

		const {gate} = segment;
		if (gate) {
			segment.gate = undefined;
			promise.then(gate, gate);
		} else {
			segment.last = promise;
		}

		return promise;
	}

	/** Starts the segment's next task; called once per task, in order, by the promise chain. */
	_pump(segment: Segment): unknown {
		const queue = segment.queue!;
		const task = queue[segment.head] as Task<unknown>;
		queue[segment.head] = undefined;
		segment.head += 2;
		if (segment.head >= compactAfter && segment.head * 2 >= queue.length) {
			segment.queue = queue.slice(segment.head);
			segment.head = 0;
		}

		return this.#begin(segment, task, this.#now());
	}

	/** Runs one task of the segment; returns its outcome after the bookkeeping (a promise when it is asynchronous). */
	#begin(segment: Segment, task: Task<unknown>, now: number): unknown {
		const {node} = segment;
		node.queued--;
		node.running++;
		segment.busy = true;
		segment.startedAt = now;
		if (segment.abortReason) {
			this._segmentTaskDone(segment);
			return Promise.reject(segment.abortReason());
		}

		let result: unknown;
		try {
			// Plain writes get their id when they start: no event can have named them before.
			result = task(new Context(this.#nextId++, node.keys, 'write', undefined, ++this.#grants));
		} catch (error) {
			this._segmentTaskDone(segment);
			throw error;
		}

		if (isThenable(result)) {
			return endingWith(result, segment.done);
		}

		this._segmentTaskDone(segment);
		return result;
	}

	_segmentTaskDone(segment: Segment): void {
		segment.busy = false;
		segment.node.running--;
		if (segment.waiting === 0) {
			// Drained: the segment leaves the graph; a later plain write opens a new one.
			this.#unlink(segment);
			this.#finish(segment);
			this.#notifyIdle(segment.nodes);
			this.#drain();
		}
	}

	// --- The graph ----------------------------------------------------------------------------

	/** The nodes of `list`: canonical keys, sorted, each once (the precondition of `run()`). */
	#nodesFor(list: readonly string[]): Node[] {
		if (list.length === 1) {
			return this.#node(list[0]!).self;
		}

		const nodes = new Array<Node>(list.length);
		for (let index = 0; index < list.length; index++) {
			nodes[index] = this.#node(list[index]!);
		}

		return nodes;
	}

	/** The parent `#node()` found last (checked for `deleted` before it is used again). */
	#lastParent: Node | undefined = undefined;

	#node(key: string): Node {
		let node = this.#nodes.get(key);
		if (node === undefined) {
			// Keys of one collection (`objects/<id>`) share their parent: the one found last needs no
			// lookup, and finding that it is the parent needs no backward search (`lastIndexOf` is a call
			// into V8's runtime; `startsWith` and a forward `indexOf` are not).
			const last = this.#lastParent;
			const sibling = last !== undefined && !last.deleted && key.charCodeAt(last.key.length) === slash && key.startsWith(last.key) && key.indexOf('/', last.key.length + 1) === -1;
			const at = sibling ? last.key.length : key.lastIndexOf('/');
			let parent: Node | undefined;
			if (at !== -1) {
				parent = sibling ? last : this.#node(key.slice(0, at));
				this.#lastParent = parent;
			}

			node = new Node(key, parent);
			this.#nodes.set(key, node);
			if (parent) {
				(parent.children ??= new Chain()).push(node);
			}
		}

		return node;
	}

	#collectDependencies(operation: Single): void {
		const isWrite = operation.kind === 'write';
		for (const node of operation.nodes) {
			const previous = node.tail;
			for (let ancestor: Node | undefined = node; ancestor; ancestor = ancestor.parent) {
				if (ancestor.tail) {
					this.#dependOn(operation, ancestor.tail);
				}

				if (isWrite && ancestor.readers) {
					for (const reader of ancestor.readers) {
						this.#dependOn(operation, reader);
					}
				}
			}

			if (hasChildren(node)) {
				this.#dependOnSubtree(operation, node, isWrite, previous?.id ?? 0);
			}
		}

		for (const node of operation.nodes) {
			if (isWrite) {
				const replaced = node.tail;
				node.tail = operation;
				// Later operations reach these readers through this write.
				node.readers?.clear();
				if (replaced?.state === CANCELLED) {
					// Nothing will meet the tombstone any more once it is no key's tail.
					this.#retireUnreferenced(replaced as Single);
				}
			} else {
				(node.readers ??= new Set()).add(operation);
			}
		}
	}

	/** Waits for the unfinished writes (and, for a write, shared reads) below `node`; those older than `coveredBelow` are reached through the node's previous tail already. */
	#dependOnSubtree(operation: Single, node: Node, isWrite: boolean, coveredBelow: number): void {
		for (let child = node.children!.first; child; child = child.next) {
			if (child.tail && child.tail.id > coveredBelow) {
				this.#dependOn(operation, child.tail);
			}

			if (isWrite && child.readers) {
				for (const reader of child.readers) {
					if (reader.id > coveredBelow) {
						this.#dependOn(operation, reader);
					}
				}
			}

			if (hasChildren(child)) {
				this.#dependOnSubtree(operation, child, isWrite, coveredBelow);
			}
		}
	}

	#dependOn(operation: Single, blocker: Operation): void {
		if (blocker === operation || operation.waitsFor(blocker)) {
			return;
		}

		if (blocker.state === CANCELLED) {
			// A tombstone stands only for what it waited for: wait for the part of that which conflicts with this operation.
			this.#inherit(operation, blocker as Single);
			return;
		}

		if (isSegment(blocker)) {
			// Whatever comes after this operation must come after it, not join the segment.
			blocker.open = false;
		}

		if (blocker.dependent === undefined) {
			blocker.dependent = operation;
		} else {
			(blocker.dependents ??= []).push(operation);
		}

		operation.pending++;
		operation.addBlocker(blocker);
	}

	/** Makes `operation` wait for the blockers of the tombstone `cancelled` that conflict with it (all live: no recursion). */
	#inherit(operation: Single, cancelled: Single): void {
		if (cancelled.blocker !== undefined && conflicts(operation, cancelled.blocker)) {
			this.#dependOn(operation, cancelled.blocker);
		}

		if (cancelled.blockers !== undefined) {
			for (const blocker of cancelled.blockers) {
				if (conflicts(operation, blocker)) {
					this.#dependOn(operation, blocker);
				}
			}
		}
	}

	/** Timeout and abort while queued. */
	#watch(operation: Single): void {
		const {queueTimeout} = this.#options;
		if (queueTimeout !== false) {
			operation.timer = clock.setTimeout(() => {
				operation.timer = undefined;
				const {keys} = operation;
				this.#cancel(operation, new LaneTimeoutError(keys.length === 1 ? keys[0]! : keys, queueTimeout));
			}, queueTimeout);
		}

		const {signal} = operation;
		if (signal) {
			// One listener per signal, however many queued operations share it (a batch's one controller).
			let watcher = this.#watchers.get(signal);
			if (watcher === undefined) {
				const waiting = new Set<Single>();
				const listener = () => {
					this.#watchers.delete(signal);
					// Oldest first; each leaves the set as it is cancelled.
					for (const queued of [...waiting]) {
						this.#cancel(queued, signal.reason);
					}
				};

				watcher = {waiting, listener};
				this.#watchers.set(signal, watcher);
				signal.addEventListener('abort', listener, {once: true});
			}

			watcher.waiting.add(operation);
			operation.watched = true;
		}
	}

	#unwatch(operation: Single): void {
		if (operation.timer !== undefined) {
			clock.clearTimeout(operation.timer);
			operation.timer = undefined;
		}

		if (operation.watched) {
			operation.watched = false;
			const signal = operation.signal!;
			const watcher = this.#watchers.get(signal);
			if (watcher?.waiting.delete(operation) && watcher.waiting.size === 0) {
				signal.removeEventListener('abort', watcher.listener);
				this.#watchers.delete(signal);
			}
		}
	}

	/**
	A queued operation leaves its lane now. Its dependents inherit what it waited for; it stays in the
	graph as a tombstone only while it is the tail of one of its keys.
	*/
	#cancel(operation: Single, reason: unknown): void {
		if (operation.state !== QUEUED) {
			return;
		}

		this.#unwatch(operation);
		operation.state = CANCELLED;
		for (const node of operation.nodes) {
			node.queued--;
			if (operation.kind === 'read') {
				// A later write on the key waits for the tails this read waited for anyway.
				node.readers?.delete(operation);
			}
		}

		this.#unlink(operation);
		const {emitter} = this.#options;
		if (emitter.active) {
			emitter.emit({...this.#describe(operation), type: 'error', phase: 'queued', error: reason});
		}

		operation.reject(reason);
		// Its dependents stop waiting for it: each now waits only for what it conflicts with among what the tombstone waited for.
		const {dependent, dependents} = operation;
		operation.dependent = undefined;
		operation.dependents = undefined;
		if (dependent !== undefined) {
			this.#handOver(dependent, operation);
		}

		if (dependents !== undefined) {
			for (const waiting of dependents) {
				this.#handOver(waiting, operation);
			}
		}

		// With no blockers left it is in the ready list already (cancelled by code running inside a drain): the drain finishes it.
		if (operation.pending > 0) {
			this.#retireUnreferenced(operation);
		}

		this.#notifyIdle(operation.nodes);
		this.#drain();
	}

	/** `waiting` stops waiting for the tombstone `cancelled` and waits for what it inherits instead. */
	#handOver(waiting: Single, cancelled: Single): void {
		if (waiting.state === DONE) {
			return;
		}

		waiting.deleteBlocker(cancelled);
		this.#inherit(waiting, cancelled);
		this.#release(waiting);
	}

	/** Finishes a tombstone at once when it is no key's tail: nothing waits for it, nothing can meet it. */
	#retireUnreferenced(operation: Single): void {
		if (operation.state !== CANCELLED) {
			return;
		}

		for (const node of operation.nodes) {
			if (node.tail === operation) {
				return;
			}
		}

		operation.state = DONE;
		operation.pending = 0;
		for (const blocker of operation.liveBlockers()) {
			// It stays in the blocker's dependents (releasing it is a no-op now); compacting keeps that list bounded.
			if (++blocker.retired > 32 && blocker.dependents !== undefined && blocker.retired * 2 > blocker.dependents.length) {
				blocker.dependents = blocker.dependents.filter(dependent => dependent.state !== DONE);
				blocker.retired = 0;
			}
		}

		operation.blocker = undefined;
		operation.blockers = undefined;
		this.#prune(operation.nodes);
	}

	/** Starts ready operations iteratively: a long run of tombstones or synchronous tasks must not grow the stack. */
	#drain(): void {
		// Nothing ready (a drained segment, most often): no flags, and no write of the array's length, which calls into the runtime.
		if (this.#draining || this.#ready.length === 0) {
			return;
		}

		this.#draining = true;
		try {
			const ready = this.#ready;
			while (this.#readyHead < ready.length) {
				const operation = ready[this.#readyHead]!;
				ready[this.#readyHead++] = undefined as unknown as Operation;
				if (operation.state === CANCELLED) {
					this.#finish(operation);
				} else if (operation.state === QUEUED) {
					const {signal} = operation as Single;
					if (signal?.aborted) {
						// Its signal aborted while an earlier operation's cancellation released it: it must not start.
						this.#cancel(operation as Single, signal.reason);
						this.#finish(operation);
					} else {
						this.#start(operation as Single);
					}
				}
			}
		} finally {
			this.#ready.length = 0;
			this.#readyHead = 0;
			this.#draining = false;
		}
	}

	#start(operation: Single): void {
		this.#unwatch(operation);
		operation.state = RUNNING;
		operation.startedAt = this.#now();
		for (const node of operation.nodes) {
			node.queued--;
			node.running++;
		}

		const {emitter, backend} = this.#options;
		if (emitter.active) {
			emitter.emit({...this.#describe(operation), type: 'start', waitMs: operation.startedAt - operation.enqueuedAt});
		}

		// Reads in 'parallel' mode exclude nothing, here or elsewhere: they never wait for (or on) a backend.
		if (backend.inProcess || operation.nodes.length === 0 || !operation.ordered) {
			this.#invoke(operation, undefined);
			return;
		}

		let pending: Promise<Lease>;
		try {
			pending = backend.acquire!(operation.keys, {kind: operation.kind, signal: operation.signal});
		} catch (error) {
			pending = Promise.reject(error);
		}

		pending.then(
			lease => {
				operation.lease = lease;
				this.#invoke(operation, lease);
			},
			(error: unknown) => {
				const failure = operation.signal?.aborted
					? operation.signal.reason
					: new BackendError(`Backend \`${backend.name}\` could not grant lane ${operation.keys.join(', ')}`, {key: operation.keys, cause: error});
				this.#settle(operation, failure, true);
			},
		);
	}

	#invoke(operation: Single, lease: Lease | undefined): void {
		const lost = lease?.signal;
		const signal = lost === undefined ? operation.signal : this.#watchLease(operation, lost);
		let result: unknown;
		try {
			result = operation.task(new Context(operation.id, operation.keys, operation.kind, signal, lease?.fencingToken ?? ++this.#grants));
		} catch (error) {
			this.#settle(operation, error, true);
			return;
		}

		if (isThenable(result)) {
			result.then(
				value => {
					this.#settle(operation, value, false);
				},
				(error: unknown) => {
					this.#settle(operation, error, true);
				},
			);
		} else {
			this.#settle(operation, result, false);
		}
	}

	/**
	The signal the task gets under a distributed lease: it aborts when the caller's does or when the
	lease is lost (an `error` event with phase `'lease'` fires then, and the operation fails closed).
	*/
	#watchLease(operation: Single, lost: AbortSignal): AbortSignal {
		const controller = new AbortController();
		const onLost = () => {
			const error = new BackendError(`The lease on lane ${operation.keys.join(', ')} was lost while the operation ran`, {key: operation.keys, cause: lost.reason});
			operation.leaseLost = error;
			const {emitter} = this.#options;
			if (emitter.active) {
				emitter.emit({...this.#describe(operation), type: 'error', phase: 'lease', error});
			}

			controller.abort(error);
		};

		const onAbort = () => {
			controller.abort(operation.signal!.reason);
		};

		if (lost.aborted) {
			onLost();
		} else {
			lost.addEventListener('abort', onLost, {once: true});
		}

		const {signal} = operation;
		if (signal?.aborted) {
			onAbort();
		} else {
			signal?.addEventListener('abort', onAbort, {once: true});
		}

		operation.unwatchLease = () => {
			lost.removeEventListener('abort', onLost);
			signal?.removeEventListener('abort', onAbort);
		};

		return controller.signal;
	}

	#settle(operation: Single, outcome: unknown, failed: boolean): void {
		const {lease} = operation;
		if (lease) {
			operation.lease = undefined;
			operation.unwatchLease?.();
			operation.unwatchLease = undefined;
			if (operation.leaseLost !== undefined) {
				// Another holder may have run beside it: whatever the task reported, the caller must not take it as exclusive.
				outcome = operation.leaseLost;
				failed = true;
			}

			let released: Promise<void> | void;
			try {
				released = lease.release();
			} catch (error) {
				released = Promise.reject(error);
			}

			// A failed release is the backend's to report (its lease expires); the operation's outcome stands.
			Promise.resolve(released).catch(() => undefined);
		}

		for (const node of operation.nodes) {
			node.running--;
		}

		this.#unlink(operation);
		const {emitter} = this.#options;
		if (emitter.active) {
			emitter.emit(
				failed
					? {...this.#describe(operation), type: 'error', phase: 'running', error: outcome}
					: {...this.#describe(operation), type: 'done', heldMs: this.#now() - operation.startedAt},
			);
		}

		if (failed) {
			operation.reject(outcome);
		} else {
			operation.resolve(outcome);
		}

		this.#finish(operation);
		this.#notifyIdle(operation.nodes);
		this.#drain();
	}

	/** Leaves the graph: frees the nodes it was the tail or a reader of and releases its dependents. */
	#finish(operation: Operation): void {
		operation.state = DONE;
		for (const node of operation.nodes) {
			if (node.tail === operation) {
				node.tail = undefined;
			} else if (operation.kind === 'read') {
				node.readers?.delete(operation);
			}
		}

		const {dependent, dependents} = operation;
		operation.dependent = undefined;
		operation.dependents = undefined;
		operation.retired = 0;
		if (dependent !== undefined) {
			this.#unblock(dependent, operation);
		}

		if (dependents !== undefined) {
			for (const waiting of dependents) {
				this.#unblock(waiting, operation);
			}
		}

		if (operation instanceof Single) {
			// Finished operations must not keep the ones before them alive.
			operation.blocker = undefined;
			operation.blockers = undefined;
		}

		this.#prune(operation.nodes);
	}

	#unblock(waiting: Single, finished: Operation): void {
		if (waiting.state !== DONE) {
			waiting.deleteBlocker(finished);
			this.#release(waiting);
		}
	}

	#release(waiting: Single): void {
		if (--waiting.pending === 0) {
			this.#ready.push(waiting);
		}
	}

	/** Deletes nodes (and then their ancestors) that nothing refers to any more. */
	#prune(nodes: readonly Node[]): void {
		for (let node of nodes) {
			for (;;) {
				if (
					// A tombstone may outlive its node: once deleted, a key's node is replaced, never deleted twice.
					node.deleted ||
					node.queued !== 0 ||
					node.running !== 0 ||
					node.tail !== undefined ||
					(node.readers !== undefined && node.readers.size > 0) ||
					hasChildren(node)
				) {
					break;
				}

				this.#nodes.delete(node.key);
				node.deleted = true;
				if (node.idleWaiters) {
					for (const resolve of node.idleWaiters) {
						resolve();
					}

					node.idleWaiters = undefined;
				}

				const {parent} = node;
				if (parent === undefined) {
					break;
				}

				parent.children!.remove(node);
				node = parent;
			}
		}

		// A Map may keep its peak capacity after deletes; replace it once empty so a burst of a million keys leaves nothing behind.
		if (this.#nodes.size === 0) {
			this.#nodes = new Map();
		}
	}

	#notifyIdle(nodes: readonly Node[]): void {
		if (this.#options.emitter.active) {
			for (const node of nodes) {
				this.#emitIdle(node.key, node);
			}
		}

		this.#notifyAllIdle();
	}

	/** The `idle` event of `key` (its node, if it has one), when nothing runs or waits on that lane any more. */
	#emitIdle(key: string, node: Node | undefined): void {
		if ((node === undefined || (node.queued === 0 && node.running === 0)) && !this.#quickHolds(key, false)) {
			this.#options.emitter.emit({type: 'idle', key});
		}
	}

	/** Once nothing runs or waits anywhere: the `idle` event without a key, and `onIdle()`'s callers. */
	#notifyAllIdle(): void {
		const {emitter} = this.#options;
		if (this.#live === 0) {
			if (emitter.active) {
				emitter.emit({type: 'idle', key: undefined});
			}

			const waiters = this.#idleWaiters;
			if (waiters.length > 0) {
				this.#idleWaiters = [];
				for (const resolve of waiters) {
					resolve();
				}
			}
		}
	}

	#link(operation: Operation): void {
		this.#live++;
		this.#operations.push(operation);
	}

	#unlink(operation: Operation): void {
		this.#live--;
		this.#operations.remove(operation);
	}

	#describe(operation: Single): {id: number; keys: readonly string[]; kind: OperationKind; request: RequestSummary | undefined} {
		return {id: operation.id, keys: operation.keys, kind: operation.kind, request: operation.request};
	}
}
