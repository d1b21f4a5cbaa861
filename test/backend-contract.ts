import fc from 'fast-check';
import {afterEach, describe, expect, test} from 'vitest';
import {createLanes, type Lease, type LockBackend} from '../src/index.js';
import {deferred, flush, track} from './helpers.js';

/** `acquire()` is required of the backends under test. */
type Backend = LockBackend & {acquire: NonNullable<LockBackend['acquire']>};

/** What a backend's test file provides to the shared suite. */
export type ContractTarget = {
	/**
	`count` backends that share one lock space, as `count` processes would (for memory: the same
	shared backend; for Redis: separate clients on one server with one prefix). Each call is a fresh
	lock space.
	*/
	peers(count: number): Promise<Backend[]>;
	/** Releases what `peers()` made. */
	cleanup(): Promise<void>;
};

let barriers = 0;

/**
Resolves once `backend` has answered every acquire asked of it before the call: a later request on
an unrelated key is answered after the earlier ones. So a request still pending after `settled()` is
really waiting, without sleeping.
*/
async function settled(backend: Backend): Promise<void> {
	const lease = await backend.acquire([`barrier/${++barriers}`], {kind: 'write'});
	await lease.release();
	await flush();
}

type Log = string[];

/** Whether two requests may not hold at once: a write among them, and a key of one equal to, above or below a key of the other. */
function conflict(a: {keys: readonly string[]; kind: string}, b: {keys: readonly string[]; kind: string}): boolean {
	if (a.kind === 'read' && b.kind === 'read') {
		return false;
	}

	const related = (x: string, y: string) => x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
	return a.keys.some(x => b.keys.some(y => related(x, y)));
}

/** Acquires and logs `grant:<name>` with the token once granted. */
function take(log: Log, backend: Backend, name: string, keys: readonly string[], kind: 'read' | 'write' = 'write', signal?: AbortSignal) {
	const promise = backend.acquire(keys, {kind, signal}).then(lease => {
		log.push(`grant:${name}`);
		return lease;
	});
	return {promise, tracked: track(promise)};
}

async function give(log: Log, lease: Lease, name: string): Promise<void> {
	log.push(`release:${name}`);
	await lease.release();
}

/** The suite every `LockBackend` must pass. */
export function backendContract(name: string, target: ContractTarget): void {
	describe(`LockBackend contract: ${name}`, () => {
		afterEach(async () => {
			await target.cleanup();
		});

		test('acquire() - a write excludes later writes on its key; they are granted in the order they asked, across peers', async () => {
			const [a, b, c] = await target.peers(3);
			const log: Log = [];
			const first = await take(log, a!, 'a', ['objects/1']).promise;
			const second = take(log, b!, 'b', ['objects/1']);
			await settled(b!);
			const third = take(log, c!, 'c', ['objects/1']);
			await settled(c!);
			expect(second.tracked.outcome.status).toBe('pending');
			expect(third.tracked.outcome.status).toBe('pending');

			await give(log, first, 'a');
			const secondLease = await second.promise;
			await settled(c!);
			expect(third.tracked.outcome.status).toBe('pending');
			await give(log, secondLease, 'b');
			await give(log, await third.promise, 'c');
			expect(log).toEqual(['grant:a', 'release:a', 'grant:b', 'release:b', 'grant:c', 'release:c']);
		});

		test('acquire() - fencing tokens grow with every grant of a key, across peers and tree levels', async () => {
			const [a, b] = await target.peers(2);
			const tokens: number[] = [];
			for (const [backend, key] of [
				[a, 'objects/1'],
				[b, 'objects/1'],
				[a, 'objects/1/blocks/7'],
				[b, 'objects'],
				[a, 'objects/1'],
			] as const) {
				const lease = await backend!.acquire([key], {kind: 'write'});
				expect(Number.isSafeInteger(lease.fencingToken)).toBe(true);
				tokens.push(lease.fencingToken);
				await lease.release();
			}

			expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
			expect(new Set(tokens).size).toBe(tokens.length);
		});

		test('acquire() - siblings are held at once; a key waits for its ancestors and descendants, in arrival order', async () => {
			const [a, b] = await target.peers(2);
			const log: Log = [];
			const block7 = await take(log, a!, 'block7', ['objects/1/blocks/7']).promise;
			const block8 = await take(log, b!, 'block8', ['objects/1/blocks/8']).promise;
			const object = take(log, a!, 'object', ['objects/1']);
			await settled(a!);
			const deep = take(log, b!, 'deep', ['objects/1/blocks/7/x']);
			await settled(b!);
			const root = take(log, a!, 'root', ['objects']);
			const other = await take(log, b!, 'other', ['spaces/1']).promise;
			await settled(a!);
			await settled(b!);
			expect([object, deep, root].map(item => item.tracked.outcome.status)).toEqual(['pending', 'pending', 'pending']);

			await give(log, block7, 'block7');
			await settled(a!);
			await settled(b!);
			// `deep` conflicts with `object`, which asked first and still waits for block8.
			expect([object, deep, root].map(item => item.tracked.outcome.status)).toEqual(['pending', 'pending', 'pending']);
			await give(log, block8, 'block8');
			await give(log, await object.promise, 'object');
			await give(log, await deep.promise, 'deep');
			await give(log, await root.promise, 'root');
			await give(log, other, 'other');
			expect(log).toEqual([
				'grant:block7',
				'grant:block8',
				'grant:other',
				'release:block7',
				'release:block8',
				'grant:object',
				'release:object',
				'grant:deep',
				'release:deep',
				'grant:root',
				'release:root',
				'release:other',
			]);
		});

		test('acquire() - reads share a key; a write waits for earlier reads, and a later read waits for that write', async () => {
			const [a, b] = await target.peers(2);
			const log: Log = [];
			const read1 = await take(log, a!, 'r1', ['objects/1'], 'read').promise;
			const read2 = await take(log, b!, 'r2', ['objects/1'], 'read').promise;
			const belowRead = await take(log, a!, 'r-below', ['objects/1/blocks/7'], 'read').promise;
			const write = take(log, b!, 'w', ['objects/1']);
			await settled(b!);
			const read3 = take(log, a!, 'r3', ['objects/1'], 'read');
			await settled(a!);
			await settled(b!);
			expect([write.tracked.outcome.status, read3.tracked.outcome.status]).toEqual(['pending', 'pending']);

			await give(log, read1, 'r1');
			await give(log, read2, 'r2');
			await settled(b!);
			expect(write.tracked.outcome.status).toBe('pending');
			await give(log, belowRead, 'r-below');
			await give(log, await write.promise, 'w');
			await give(log, await read3.promise, 'r3');
			expect(log).toEqual(['grant:r1', 'grant:r2', 'grant:r-below', 'release:r1', 'release:r2', 'release:r-below', 'grant:w', 'release:w', 'grant:r3', 'release:r3']);
		});

		test('acquire() - a read below a written key waits; a write below a read key waits', async () => {
			const [a, b] = await target.peers(2);
			const log: Log = [];
			const parentWrite = await take(log, a!, 'pw', ['objects/1']).promise;
			const childRead = take(log, b!, 'cr', ['objects/1/blocks/7'], 'read');
			await settled(b!);
			expect(childRead.tracked.outcome.status).toBe('pending');
			await give(log, parentWrite, 'pw');
			const childReadLease = await childRead.promise;

			const parentRead = await take(log, a!, 'pr', ['objects/2'], 'read').promise;
			const childWrite = take(log, b!, 'cw', ['objects/2/blocks/1']);
			await settled(b!);
			expect(childWrite.tracked.outcome.status).toBe('pending');
			await give(log, parentRead, 'pr');
			await give(log, await childWrite.promise, 'cw');
			await give(log, childReadLease, 'cr');
			expect(log).toEqual(['grant:pw', 'release:pw', 'grant:cr', 'grant:pr', 'release:pr', 'grant:cw', 'release:cw', 'release:cr']);
		});

		test('acquire() - several keys are taken all together, after what asked before them, and before what asks after', async () => {
			const [a, b] = await target.peers(2);
			const log: Log = [];
			const holdB = await take(log, a!, 'hold-b', ['b']).promise;
			const both = take(log, b!, 'ab', ['a', 'b']);
			await settled(b!);
			const laterA = take(log, a!, 'later-a', ['a']);
			const onlyC = await take(log, a!, 'c', ['c']).promise;
			await settled(a!);
			await settled(b!);
			expect([both.tracked.outcome.status, laterA.tracked.outcome.status]).toEqual(['pending', 'pending']);
			await give(log, holdB, 'hold-b');
			await give(log, await both.promise, 'ab');
			await give(log, await laterA.promise, 'later-a');
			await give(log, onlyC, 'c');
			expect(log).toEqual(['grant:hold-b', 'grant:c', 'release:hold-b', 'grant:ab', 'release:ab', 'grant:later-a', 'release:later-a', 'release:c']);
		});

		test('acquire() - peers taking overlapping key sets in every order never deadlock and never overlap', async () => {
			const peers = await target.peers(3);
			const sets = [['x', 'y'], ['y', 'z'], ['z', 'x'], ['x', 'y', 'z'], ['y']];
			const holders = new Map<string, string>();
			const overlaps: string[] = [];
			await Promise.all(
				peers.map(async (backend, peer) => {
					for (let round = 0; round < 6; round++) {
						const keys = sets[(round + peer) % sets.length]!;
						const lease = await backend.acquire(keys, {kind: 'write'});
						const me = `${peer}:${round}`;
						for (const key of keys) {
							if (holders.has(key)) {
								overlaps.push(`${me} with ${holders.get(key)} on ${key}`);
							}

							holders.set(key, me);
						}

						await flush();
						for (const key of keys) {
							holders.delete(key);
						}

						await lease.release();
					}
				}),
			);
			expect(overlaps).toEqual([]);
		});

		test('acquire() - random tree keys, multi-key sets and reads from several peers: conflicting holds never overlap, and one peer\'s conflicting requests are granted in its call order (property)', async () => {
			const peers = await target.peers(3);
			const keyArbitrary = fc.constantFrom('o', 'o/1', 'o/1/b/1', 'o/1/b/2', 'o/2', 'p');
			const request = fc.record({
				peer: fc.integer({min: 0, max: peers.length - 1}),
				keys: fc.uniqueArray(keyArbitrary, {minLength: 1, maxLength: 2}),
				kind: fc.constantFrom<'read' | 'write'>('read', 'write', 'write'),
			});
			await fc.assert(
				fc.asyncProperty(fc.array(request, {minLength: 2, maxLength: 10}), async requests => {
					const active = new Set<number>();
					const violations: string[] = [];
					const granted: number[] = [];
					await Promise.all(
						requests.map(async (item, index) => {
							const lease = await peers[item.peer]!.acquire(item.keys, {kind: item.kind});
							for (const other of active) {
								if (conflict(item, requests[other]!)) {
									violations.push(`${index} overlaps ${other}`);
								}
							}

							active.add(index);
							granted.push(index);
							await flush();
							active.delete(index);
							await lease.release();
						}),
					);
					for (const [position, index] of granted.entries()) {
						for (const later of granted.slice(position + 1)) {
							if (later < index && requests[later]!.peer === requests[index]!.peer && conflict(requests[later]!, requests[index]!)) {
								violations.push(`${later} (asked first) granted after ${index}`);
							}
						}
					}

					expect(violations).toEqual([]);
				}),
				{numRuns: 20},
			);
		});

		test('release() - is idempotent and never releases the next holder', async () => {
			const [a, b] = await target.peers(2);
			const log: Log = [];
			const first = await take(log, a!, 'a', ['k']).promise;
			await first.release();
			await first.release();
			const second = await take(log, b!, 'b', ['k']).promise;
			await first.release();
			const third = take(log, a!, 'c', ['k']);
			await settled(a!);
			expect(third.tracked.outcome.status).toBe('pending');
			await give(log, second, 'b');
			await give(log, await third.promise, 'c');
			expect(log).toEqual(['grant:a', 'grant:b', 'release:b', 'grant:c', 'release:c']);
		});

		test('acquire() - aborting a waiting request rejects with the reason and gives up its place', async () => {
			const [a, b] = await target.peers(2);
			const log: Log = [];
			const holder = await take(log, a!, 'holder', ['k']).promise;
			const controller = new AbortController();
			const aborted = take(log, b!, 'aborted', ['k'], 'write', controller.signal);
			await settled(b!);
			const next = take(log, a!, 'next', ['k']);
			await settled(a!);
			await settled(b!);
			const reason = new Error('no longer needed');
			controller.abort(reason);
			await expect(aborted.promise).rejects.toBe(reason);
			await give(log, holder, 'holder');
			await give(log, await next.promise, 'next');
			expect(log).toEqual(['grant:holder', 'release:holder', 'grant:next', 'release:next']);
		});

		test('acquire() - an already aborted signal rejects at once and takes nothing', async () => {
			const [a, b] = await target.peers(2);
			const reason = new Error('already');
			await expect(a!.acquire(['k'], {kind: 'write', signal: AbortSignal.abort(reason)})).rejects.toBe(reason);
			const lease = await b!.acquire(['k'], {kind: 'write'});
			await lease.release();
		});

		test('acquire() - the lease carries a live signal while held', async () => {
			const [a] = await target.peers(1);
			const lease = await a!.acquire(['k'], {kind: 'write'});
			expect(lease.signal).toBeInstanceOf(AbortSignal);
			expect(lease.signal?.aborted).toBe(false);
			await lease.release();
		});

		test('acquire() - bad keys or kind reject with a TypeError naming them', async () => {
			const [a] = await target.peers(1);
			await expect(a!.acquire([''], {kind: 'write'})).rejects.toThrow(TypeError);
			await expect(a!.acquire([42 as unknown as string], {kind: 'write'})).rejects.toThrow(/`keys\[0\]`/);
			await expect(a!.acquire(['k'], {kind: 'append' as 'write'})).rejects.toThrow(/`kind`/);
		});

		test('createLanes({backend}) - two lanes instances sharing the lock never overlap writes on a key', async () => {
			const [a, b] = await target.peers(2);
			const lanes = [createLanes({backend: a}), createLanes({backend: b})];
			let running = 0;
			let most = 0;
			const order: number[] = [];
			const gate = deferred();
			const writes = Array.from({length: 24}, (_, index) =>
				lanes[index % 2]!.write('objects/1', async context => {
					running++;
					most = Math.max(most, running);
					order.push(context.fencingToken);
					await gate.promise;
					await flush();
					running--;
					return index;
				}),
			);
			gate.resolve();
			expect(await Promise.all(writes)).toEqual(writes.map((_, index) => index));
			expect(most).toBe(1);
			expect([...order].sort((x, y) => x - y)).toEqual(order);
			await Promise.all(lanes.map(async instance => instance.close()));
		});
	});
}
