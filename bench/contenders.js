// The contenders: every one runs writes exclusively per key, FIFO per key, different keys in
// parallel, and each is written the way its documentation suggests. Every contender is created
// fresh per measurement and exposes the same shape:
//   write(key, fn) -> Promise   run fn once the key is free, settle with its result
//   drain()        -> Promise   wait until internal bookkeeping has caught up (outside the timing)
//   liveKeys()     -> number    per-key state still held; 0 after a drain, or memory leaks
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import AsyncLock from 'async-lock';
import {Mutex} from 'async-mutex';
import PQueue from 'p-queue';

const distUrl = new URL('../dist/index.js', import.meta.url);

/** Lets microtasks and the `idle` events that libraries emit from them run. */
const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve));

/** The floor: one promise chain per key, the map entry dropped once the tail settles. */
function createChain() {
	const tails = new Map();
	return {
		write(key, fn) {
			// A rejected write must not skip the writes queued behind it.
			const run = () => fn();
			const previous = tails.get(key);
			const tail = previous === undefined ? Promise.resolve().then(run) : previous.then(run, run);
			tails.set(key, tail);
			const forget = () => {
				if (tails.get(key) === tail) {
					tails.delete(key);
				}
			};
			tail.then(forget, forget);
			return tail;
		},
		drain: nextMacrotask,
		liveKeys: () => tails.size,
	};
}

/** One `PQueue({concurrency: 1})` per key, removed on its `idle` event. */
function createPQueuePerKey() {
	const queues = new Map();
	return {
		write(key, fn) {
			let queue = queues.get(key);
			if (queue === undefined) {
				const created = new PQueue({concurrency: 1});
				created.on('idle', () => {
					if (queues.get(key) === created) {
						queues.delete(key);
					}
				});
				queues.set(key, created);
				queue = created;
			}
			return queue.add(() => fn());
		},
		drain: nextMacrotask,
		liveKeys: () => queues.size,
	};
}

/** One `AsyncLock` for all keys; it drops a key's queue itself when the last holder leaves. */
function createAsyncLock() {
	const lock = new AsyncLock({maxPending: Number.POSITIVE_INFINITY});
	return {
		// A zero-argument wrapper: async-lock switches to callback mode for `fn.length === 1`.
		write: (key, fn) => lock.acquire(key, () => fn()),
		drain: nextMacrotask,
		liveKeys: () => Object.keys(lock.queues).length,
	};
}

/** One `Mutex` per key, removed once it is unlocked with nobody waiting. */
function createAsyncMutexPerKey() {
	const mutexes = new Map();
	return {
		write(key, fn) {
			let mutex = mutexes.get(key);
			if (mutex === undefined) {
				mutex = new Mutex();
				mutexes.set(key, mutex);
			}
			const owner = mutex;
			const result = owner.runExclusive(() => fn());
			// Release hands the lock straight to the next waiter, so "unlocked" means "no waiters".
			const forget = () => {
				if (!owner.isLocked() && mutexes.get(key) === owner) {
					mutexes.delete(key);
				}
			};
			result.then(forget, forget);
			return result;
		},
		drain: nextMacrotask,
		liveKeys: () => mutexes.size,
	};
}

let writelaneModule;

/** Loads the built library once; it only exists after `npm run build`. */
export async function loadWritelane() {
	if (writelaneModule === undefined) {
		if (!existsSync(distUrl)) {
			throw new Error(
				`writelane is not built: ${fileURLToPath(distUrl)} is missing. Run \`npm run build\` first (\`npm run bench\` does).`,
			);
		}
		const module = await import(distUrl.href);
		if (typeof module.createLanes !== 'function') {
			throw new TypeError(`${fileURLToPath(distUrl)} does not export \`createLanes()\`.`);
		}
		writelaneModule = module;
	}
	return writelaneModule;
}

/** `createLanes()` with its defaults: this is what the bars in DESIGN.md are about. */
async function createWritelane() {
	const {createLanes} = await loadWritelane();
	const lanes = createLanes();
	return {
		write: (key, fn) => lanes.write(key, fn),
		async drain() {
			await lanes.onIdle();
			await nextMacrotask();
		},
		liveKeys() {
			const {active, queued, lanes: perLane} = lanes.stats();
			return Math.max(active, queued, perLane?.length ?? 0);
		},
	};
}

/**
 * `quadratic` marks contenders whose cost per waiter grows with the number of waiters on one
 * key; the single-key workloads run them at a capped depth (see workloads.js).
 */
export const contenders = [
	{name: 'chain', create: async () => createChain(), quadratic: false},
	{name: 'p-queue per key', create: async () => createPQueuePerKey(), quadratic: false},
	{name: 'async-lock', create: async () => createAsyncLock(), quadratic: true},
	{name: 'async-mutex per key', create: async () => createAsyncMutexPerKey(), quadratic: true},
	{name: 'writelane', create: createWritelane, quadratic: false},
];

export const writelaneBuilt = () => existsSync(distUrl);

export function findContender(name) {
	const contender = contenders.find((candidate) => candidate.name === name);
	if (contender === undefined) {
		throw new Error(`Unknown contender \`${name}\`; expected one of ${contenders.map(({name}) => `\`${name}\``).join(', ')}`);
	}
	return contender;
}
