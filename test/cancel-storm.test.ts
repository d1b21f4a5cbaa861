import {getEventListeners} from 'node:events';
import {afterEach, describe, expect, test, vi} from 'vitest';
import {createLanes, isLaneTimeoutError, type Lanes} from '../src/index.js';
import {deferred, flush} from './helpers.js';

afterEach(() => {
	vi.useRealTimers();
});

/** Pending timers of this process (a leaked queue timer shows here). */
function timerCount(): number {
	return process.getActiveResourcesInfo().filter(name => name === 'Timeout').length;
}

/** Whether two key sets share a key, or one holds an ancestor of the other's. */
function overlaps(left: readonly string[], right: readonly string[]): boolean {
	const related = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
	return left.some(a => right.some(b => related(a, b)));
}

/** Submits `count` writes on `keysOf(index)`, each with its own controller; nothing they run is awaited. */
function queueWrites(lanes: Lanes, count: number, keysOf: (index: number) => string | string[], log?: number[]) {
	const controllers: AbortController[] = [];
	const outcomes: Array<'pending' | 'done' | 'aborted'> = [];
	const promises: Array<Promise<unknown>> = [];
	for (let index = 0; index < count; index++) {
		const controller = new AbortController();
		controllers.push(controller);
		outcomes.push('pending');
		const promise = lanes.write(
			keysOf(index),
			() => {
				log?.push(index);
			},
			{signal: controller.signal},
		);
		promises.push(
			promise.then(
				() => {
					outcomes[index] = 'done';
				},
				() => {
					outcomes[index] = 'aborted';
				},
			),
		);
	}

	return {controllers, outcomes, settled: Promise.all(promises)};
}

/** A write that holds `keys` until the returned `release()`. */
async function hold(lanes: Lanes, keys: string | string[]) {
	const gate = deferred();
	const started = deferred();
	const done = lanes.write(keys, async () => {
		started.resolve();
		await gate.promise;
	});
	await started.promise;
	return {release: gate.resolve, done};
}

describe('cancellation storms', {timeout: 30_000}, () => {
	test('.write() - aborting 20k queued writes on one key oldest-first settles them all; the lane drains and stays usable', async () => {
		const lanes = createLanes();
		const head = await hold(lanes, 'a');
		const queue = queueWrites(lanes, 20_000, () => 'a');
		expect(lanes.stats().queued).toBe(20_000);
		for (const controller of queue.controllers) {
			controller.abort(new Error('gave up'));
		}

		await flush();
		expect(queue.outcomes.every(outcome => outcome === 'aborted')).toBe(true);
		expect(lanes.stats().queued).toBe(0);
		head.release();
		await head.done;
		await lanes.onIdle();
		expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
		expect(await lanes.write('a', () => 'after')).toBe('after');
	});

	test('.write() - aborting 20k queued writes newest-first, then one more write: it queues behind the running one and onIdle() resolves', async () => {
		const lanes = createLanes();
		const head = await hold(lanes, 'a');
		const queue = queueWrites(lanes, 20_000, () => 'a');
		for (let index = queue.controllers.length - 1; index >= 0; index--) {
			queue.controllers[index]!.abort(new Error('gave up'));
		}

		const log: string[] = [];
		const next = lanes.write('a', () => {
			log.push('next');
		});
		await flush();
		expect(log).toEqual([]);
		expect(lanes.stats().queued).toBe(1);
		head.release();
		await next;
		expect(log).toEqual(['next']);
		await lanes.onIdle();
		expect(lanes.stats().lanes).toEqual([]);
	});

	// Real timers: a fake clock scans every pending timer per tick, which is quadratic at this depth. Nothing here measures time.
	test('queueTimeout - 20k writes queued on one key time out together; every one rejects with LaneTimeoutError and the lane drains', async () => {
		const timersBefore = timerCount();
		const lanes = createLanes({queueTimeout: 1});
		const gate = deferred();
		const head = lanes.write('a', () => gate.promise);
		const queued = Array.from({length: 20_000}, () => lanes.write('a', () => 'ran').catch((error: unknown) => error));
		const outcomes = await Promise.all(queued);
		expect(outcomes.every(outcome => isLaneTimeoutError(outcome))).toBe(true);
		// A timer an earlier test left may end meanwhile; none of this test's may be left.
		expect(timerCount()).toBeLessThanOrEqual(timersBefore);
		gate.resolve();
		await head;
		await lanes.onIdle();
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('queueTimeout - a 20k storm of tree and multi-key writes times out; survivors keep order and the tree drains', async () => {
		const timersBefore = timerCount();
		const lanes = createLanes({queueTimeout: 1});
		const gate = deferred();
		const head = lanes.write(['a', 'z'], () => gate.promise);
		const shapes = [['a'], ['a/b'], ['a/b', 'z'], ['a/c/d'], ['z', 'a'], ['a/c']];
		const timedOut = Array.from({length: 20_000}, (_, index) => lanes.write(shapes[index % shapes.length]!, () => 'ran').catch((error: unknown) => error));
		expect((await Promise.all(timedOut)).every(outcome => isLaneTimeoutError(outcome))).toBe(true);
		const log: number[] = [];
		// They start in the microtasks that follow the release, before any 1 ms queue timer can fire.
		const survivors = shapes.map((keys, index) =>
			lanes.write(keys, () => {
				log.push(index);
			}),
		);
		gate.resolve();
		await head;
		await Promise.all(survivors);
		// Every conflicting pair ran in submission order (siblings may overtake each other).
		for (let later = 0; later < shapes.length; later++) {
			for (let earlier = 0; earlier < later; earlier++) {
				if (overlaps(shapes[earlier]!, shapes[later]!)) {
					expect(log.indexOf(earlier)).toBeLessThan(log.indexOf(later));
				}
			}
		}

		expect(log).toHaveLength(shapes.length);
		await lanes.onIdle();
		expect(lanes.stats().lanes).toEqual([]);
		// A timer an earlier test left may end meanwhile; none of this test's may be left.
		expect(timerCount()).toBeLessThanOrEqual(timersBefore);
	});

	test("reads: 'shared' - random aborts among 20k queued reads and writes leave the survivors exclusive and in order", async () => {
		const lanes = createLanes({reads: 'shared'});
		const head = await hold(lanes, 'a');
		const running = {writes: 0, reads: 0, overlaps: 0};
		const order: number[] = [];
		const controllers: AbortController[] = [];
		const settled: Array<Promise<unknown>> = [];
		let seed = 7;
		const random = () => {
			seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
			return seed / 2_147_483_648;
		};

		for (let index = 0; index < 20_000; index++) {
			const controller = new AbortController();
			controllers.push(controller);
			const isWrite = random() < 0.3;
			const task = async () => {
				if (isWrite ? running.writes + running.reads > 0 : running.writes > 0) {
					running.overlaps++;
				}

				if (isWrite) {
					running.writes++;
					order.push(index);
				} else {
					running.reads++;
				}

				await Promise.resolve();
				if (isWrite) {
					running.writes--;
				} else {
					running.reads--;
				}
			};

			settled.push((isWrite ? lanes.write('a', task, {signal: controller.signal}) : lanes.read('a', task, {signal: controller.signal})).catch(() => undefined));
		}

		for (const controller of controllers) {
			if (random() < 0.5) {
				controller.abort(new Error('gave up'));
			}
		}

		head.release();
		await Promise.all(settled);
		await lanes.onIdle();
		expect(running.overlaps).toBe(0);
		expect(order).toEqual([...order].sort((left, right) => left - right));
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - 20k queued writes sharing one signal add one abort listener (no MaxListenersExceededWarning) and all reject when it aborts', async () => {
		const warnings: Error[] = [];
		const onWarning = (warning: Error) => warnings.push(warning);
		process.on('warning', onWarning);
		try {
			const lanes = createLanes();
			const head = await hold(lanes, 'a');
			const controller = new AbortController();
			const reason = new Error('batch interrupted');
			const queued = Array.from({length: 20_000}, (_, index) => lanes.write(index % 2 === 0 ? 'a' : ['a', 'b'], () => 'ran', {signal: controller.signal}).catch((error: unknown) => error));
			expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
			controller.abort(reason);
			expect((await Promise.all(queued)).every(outcome => outcome === reason)).toBe(true);
			expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
			head.release();
			await lanes.onIdle();
			expect(lanes.stats().lanes).toEqual([]);
			await flush();
			expect(warnings).toEqual([]);
		} finally {
			process.off('warning', onWarning);
		}
	});
});
