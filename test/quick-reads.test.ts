import {afterEach, expect, test, vi} from 'vitest';
import {createLanes, type LaneEvent, type LaneStats} from '../src/index.js';
import {type Deferred, deferred, flush, track} from './helpers.js';

/*
Reads in the default 'parallel' mode with no signal and no event listener run outside the operation
graph (they wait for nothing and block nothing). They must still count everywhere a read counts:
`stats()`, `onIdle()`, `close()`; and leave nothing behind however they end.
*/

afterEach(() => {
	vi.useRealTimers();
});

/** A read task held open until the test settles its gate; `started` says whether it ran. */
function heldRead<T = string>() {
	const gate: Deferred<T> = deferred<T>();
	const state = {started: 0};
	const task = () => {
		state.started++;
		return gate.promise;
	};
	return {gate, state, task};
}

const byKey = (lanes: readonly LaneStats[]) => [...lanes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

test('quick reads - held reads are active in stats(), each lane running, a multi-key read counted once', async () => {
	vi.useFakeTimers({toFake: ['Date']});
	const lanes = createLanes();
	const first = heldRead();
	const second = heldRead();
	const multi = heldRead();
	const child = heldRead();
	const results = [lanes.read('a', first.task)];
	vi.advanceTimersByTime(100);
	results.push(lanes.read('a', second.task), lanes.read(['c', 'd'], multi.task), lanes.read('p/q', child.task));
	vi.advanceTimersByTime(50);
	await flush();
	expect([first, second, multi, child].map(read => read.state.started)).toEqual([1, 1, 1, 1]);

	const stats = lanes.stats();
	expect(stats.active).toBe(4);
	expect(stats.queued).toBe(0);
	expect(byKey(stats.lanes)).toEqual([
		{key: 'a', queued: 0, running: 2, waitMs: 0, heldMs: 150},
		{key: 'c', queued: 0, running: 1, waitMs: 0, heldMs: 50},
		{key: 'd', queued: 0, running: 1, waitMs: 0, heldMs: 50},
		{key: 'p/q', queued: 0, running: 1, waitMs: 0, heldMs: 50},
	]);

	multi.gate.resolve('multi');
	await flush();
	expect(lanes.stats().active).toBe(3);
	expect(byKey(lanes.stats().lanes).map(lane => lane.key)).toEqual(['a', 'p/q']);

	second.gate.resolve('second');
	await flush();
	expect(lanes.stats().lanes.find(lane => lane.key === 'a')).toMatchObject({running: 1});

	first.gate.resolve('first');
	child.gate.resolve('child');
	expect(await Promise.all(results)).toEqual(['first', 'second', 'multi', 'child']);
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0, lanes: []});
});

/**
Two overlapping reads on `key`: the first starts at 0 and ends at 120, the second starts at 100;
returns the lane's `heldMs` at 150, when only the second runs (it has held the lane 50 ms).
*/
async function heldMsOfOverlap(options?: {signal: AbortSignal}): Promise<number | undefined> {
	vi.useFakeTimers({toFake: ['Date']});
	const lanes = createLanes();
	const first = heldRead();
	const second = heldRead();
	const reads = [lanes.read('a', first.task, options)];
	vi.advanceTimersByTime(100);
	reads.push(lanes.read('a', second.task, options));
	vi.advanceTimersByTime(20);
	expect(lanes.stats().lanes).toMatchObject([{key: 'a', running: 2, heldMs: 120}]);
	first.gate.resolve('first');
	await flush();
	vi.advanceTimersByTime(30);
	const heldMs = lanes.stats().lanes.find(lane => lane.key === 'a')?.heldMs;
	second.gate.resolve('second');
	await Promise.all(reads);
	return heldMs;
}

test('reads with a signal - heldMs counts from the start of the oldest read still running', async () => {
	expect(await heldMsOfOverlap({signal: new AbortController().signal})).toBe(50);
});

// A lane under a steady stream of short overlapping reads shows the oldest running read's time, as
// the same reads with a signal do, not an ever-growing one.
test('quick reads - heldMs counts from the start of the oldest read still running', async () => {
	expect(await heldMsOfOverlap()).toBe(50);
});

test('quick reads - onIdle(key) and onIdle() resolve only once the reads have finished, a parent key waiting for its child', async () => {
	const lanes = createLanes();
	const onA = heldRead();
	const onChild = heldRead();
	const reads = [lanes.read('a', onA.task), lanes.read('p/q/r', onChild.task)];
	await flush();
	const idleA = track(lanes.onIdle('a'));
	const idleParent = track(lanes.onIdle('p'));
	const idleMiddle = track(lanes.onIdle('p/q'));
	const idleChild = track(lanes.onIdle('p/q/r'));
	const idleAll = track(lanes.onIdle());
	await flush();
	for (const idle of [idleA, idleParent, idleMiddle, idleChild, idleAll]) {
		expect(idle.outcome.status).toBe('pending');
	}

	onA.gate.resolve('a');
	await flush();
	expect(idleA.outcome.status).toBe('fulfilled');
	for (const idle of [idleParent, idleMiddle, idleChild, idleAll]) {
		expect(idle.outcome.status).toBe('pending');
	}

	onChild.gate.resolve('child');
	await flush();
	for (const idle of [idleParent, idleMiddle, idleChild, idleAll]) {
		expect(idle.outcome.status).toBe('fulfilled');
	}

	expect(await Promise.all(reads)).toEqual(['a', 'child']);
	// Nothing left on those lanes: a new onIdle() resolves at once.
	const again = track(Promise.all([lanes.onIdle('a'), lanes.onIdle('p'), lanes.onIdle('p/q/r'), lanes.onIdle()]));
	await flush();
	expect(again.outcome.status).toBe('fulfilled');
});

test('quick reads - close() waits for them, and refuses reads made after it', async () => {
	const lanes = createLanes();
	const read = heldRead();
	const result = lanes.read(['a', 'b'], read.task);
	await flush();
	const closed = track(lanes.close());
	await flush();
	expect(closed.outcome.status).toBe('pending');
	await expect(lanes.read('c', () => 'late')).rejects.toMatchObject({name: 'ClosedError'});
	read.gate.resolve('done');
	await flush();
	expect(closed.outcome.status).toBe('fulfilled');
	expect(await result).toBe('done');
});

test('quick reads - a read that rejects, throws synchronously or returns a value leaves no lane behind', async () => {
	const lanes = createLanes();
	const failure = new Error('read failed');
	const held = heldRead();
	const rejecting = lanes.read(['a', 'b'], held.task);
	const throwing = lanes.read('a', () => {
		throw failure;
	});
	await expect(throwing).rejects.toBe(failure);
	// The throwing read has ended; the held one still runs.
	expect(lanes.stats()).toMatchObject({active: 1});
	expect(byKey(lanes.stats().lanes).map(lane => [lane.key, lane.running])).toEqual([
		['a', 1],
		['b', 1],
	]);

	held.gate.reject(failure);
	await expect(rejecting).rejects.toBe(failure);
	await expect(lanes.read('a', async () => Promise.reject(failure))).rejects.toBe(failure);
	expect(await lanes.read('a', () => 42)).toBe(42);
	// A thenable that is not a promise counts as running until it settles.
	const thenable = deferred<string>();
	const viaThenable = lanes.read('t', () => ({
		// biome-ignore lint/suspicious/noThenProperty: a bare thenable, not a promise
		then: (resolve: (value: string) => unknown, reject: (reason: unknown) => unknown) => thenable.promise.then(resolve, reject),
	}) as PromiseLike<string>);
	await flush();
	expect(lanes.stats().lanes.map(lane => lane.key)).toEqual(['t']);
	thenable.resolve('then');
	expect(await viaThenable).toBe('then');

	expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	const idle = track(Promise.all([lanes.onIdle('a'), lanes.onIdle('b'), lanes.onIdle()]));
	await flush();
	expect(idle.outcome.status).toBe('fulfilled');
});

test('quick reads - a write on the same key or its parent is not blocked by them, and the lane stays until the read ends', async () => {
	const lanes = createLanes();
	const read = heldRead();
	const result = lanes.read('a/b', read.task);
	await flush();
	expect(await lanes.write('a/b', () => 'same key')).toBe('same key');
	expect(await lanes.write('a', () => 'parent')).toBe('parent');
	expect(await lanes.write(['a/b', 'c'], () => 'multi-key')).toBe('multi-key');
	expect(await lanes.write('a/b', () => 'with a signal', {signal: new AbortController().signal})).toBe('with a signal');

	// The writes have ended; the read still holds its lane.
	expect(lanes.stats().active).toBe(1);
	expect(lanes.stats().lanes).toMatchObject([{key: 'a/b', running: 1, queued: 0}]);
	const idle = track(lanes.onIdle('a/b'));
	const idleParent = track(lanes.onIdle('a'));
	await flush();
	expect(idle.outcome.status).toBe('pending');
	expect(idleParent.outcome.status).toBe('pending');

	read.gate.resolve('read');
	expect(await result).toBe('read');
	await flush();
	expect(idle.outcome.status).toBe('fulfilled');
	expect(idleParent.outcome.status).toBe('fulfilled');
	expect(lanes.stats().lanes).toEqual([]);
});

test('quick reads - a held write does not hold them back', async () => {
	const lanes = createLanes();
	const write = deferred<string>();
	const writing = lanes.write('a', () => write.promise);
	expect(await lanes.read('a', () => 'read under a write')).toBe('read under a write');
	expect(await lanes.read(['a', 'z'], () => 'multi-key read')).toBe('multi-key read');
	expect(lanes.stats().lanes).toMatchObject([{key: 'a', running: 1}]);
	write.resolve('write');
	expect(await writing).toBe('write');
	expect(lanes.stats().lanes).toEqual([]);
});

test('quick reads - with a listener, reads go the general way and still emit enqueue, start and done', async () => {
	const lanes = createLanes();
	const events: string[] = [];
	const off = lanes.on('*', (event: LaneEvent) => {
		events.push(event.type === 'idle' ? `idle ${event.key ?? '*'}` : `${event.type} ${event.kind} ${event.keys.join(',')}`);
	});
	const read = heldRead();
	const result = lanes.read(['a', 'b'], read.task);
	await flush();
	expect(lanes.stats()).toMatchObject({active: 1, lanes: [{key: 'a', running: 1}, {key: 'b', running: 1}]});
	expect(events).toEqual(['enqueue read a,b', 'start read a,b']);
	const idle = track(lanes.onIdle('a'));
	await flush();
	expect(idle.outcome.status).toBe('pending');
	read.gate.resolve('done');
	expect(await result).toBe('done');
	await flush();
	expect(idle.outcome.status).toBe('fulfilled');
	expect(events).toEqual(['enqueue read a,b', 'start read a,b', 'done read a,b', 'idle a', 'idle b', 'idle *']);

	// Once the listener is gone, the fast path applies again: no events.
	off();
	events.length = 0;
	expect(await lanes.read('a', () => 'quiet')).toBe('quiet');
	expect(events).toEqual([]);
	expect(lanes.stats().lanes).toEqual([]);
});

test('quick reads - a listener attached while a quick read runs does not break its end', async () => {
	const lanes = createLanes();
	const read = heldRead();
	const result = lanes.read('a', read.task);
	await flush();
	const events: string[] = [];
	lanes.on('*', event => {
		events.push(event.type);
	});
	read.gate.resolve('done');
	expect(await result).toBe('done');
	expect(lanes.stats()).toMatchObject({active: 0, lanes: []});
	// It emitted nothing when it started, so its end has nothing to close but the idle notices.
	expect(events.filter(type => type !== 'idle')).toEqual([]);
	const again = heldRead();
	const next = lanes.read('a', again.task);
	await flush();
	expect(events.filter(type => type !== 'idle')).toEqual(['enqueue', 'start']);
	again.gate.resolve('next');
	expect(await next).toBe('next');
});

test('quick reads - with a signal, a held read counts in stats and onIdle, and an abort while it runs does not end it early', async () => {
	const lanes = createLanes();
	const controller = new AbortController();
	const read = heldRead();
	const result = lanes.read(['a', 'b'], read.task, {signal: controller.signal});
	await flush();
	expect(read.state.started).toBe(1);
	expect(lanes.stats()).toMatchObject({active: 1, lanes: [{key: 'a', running: 1}, {key: 'b', running: 1}]});
	const idle = track(lanes.onIdle());
	controller.abort(new Error('too late'));
	await flush();
	expect(idle.outcome.status).toBe('pending');
	read.gate.resolve('finished');
	expect(await result).toBe('finished');
	await flush();
	expect(idle.outcome.status).toBe('fulfilled');
	await expect(lanes.read('a', () => 'never', {signal: controller.signal})).rejects.toThrow('too late');
	expect(lanes.stats().lanes).toEqual([]);
});

test('quick reads - 10k held reads on distinct keys are all counted, and leave nothing behind', async () => {
	const lanes = createLanes();
	const gate = deferred<void>();
	const count = 10_000;
	const reads: Promise<number>[] = [];
	for (let index = 0; index < count; index++) {
		reads.push(lanes.read(`r/${index}`, () => gate.promise.then(() => index)));
	}

	await flush();
	const held = lanes.stats();
	expect(held.active).toBe(count);
	expect(held.lanes).toHaveLength(count);
	expect(held.lanes.every(lane => lane.running === 1 && lane.queued === 0 && lane.heldMs >= 0)).toBe(true);
	const idle = track(lanes.onIdle('r'));
	await flush();
	expect(idle.outcome.status).toBe('pending');

	gate.resolve();
	const values = await Promise.all(reads);
	expect(values[count - 1]).toBe(count - 1);
	await flush();
	expect(idle.outcome.status).toBe('fulfilled');
	expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});

	// And as many synchronous ones.
	for (let index = 0; index < count; index++) {
		reads[index] = lanes.read(`s/${index}`, () => index);
	}

	await Promise.all(reads);
	expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	const after = track(Promise.all([lanes.onIdle('r/0'), lanes.onIdle('s/9999'), lanes.onIdle('r'), lanes.onIdle()]));
	await flush();
	expect(after.outcome.status).toBe('fulfilled');
	await lanes.close();
});

test('quick reads - onIdle(key) waits for a read below the key that outlasts a write on it', async () => {
	const lanes = createLanes();
	const read = heldRead();
	const reading = lanes.read('a/b', read.task);
	const write = deferred<string>();
	const writing = lanes.write('a', () => write.promise);
	await flush();
	const idle = track(lanes.onIdle('a'));
	const idleOther = track(lanes.onIdle('ab'));
	write.resolve('write');
	expect(await writing).toBe('write');
	await flush();
	// The write's lane is gone; the read below it still runs. `ab` is not below `a`.
	expect(idle.outcome.status).toBe('pending');
	expect(idleOther.outcome.status).toBe('fulfilled');
	read.gate.resolve('read');
	expect(await reading).toBe('read');
	await flush();
	expect(idle.outcome.status).toBe('fulfilled');
});

test('quick reads - a lane is idle for listeners only once its quick read has ended too', async () => {
	const lanes = createLanes();
	const read = heldRead();
	const reading = lanes.read('a', read.task);
	await flush();
	const events: string[] = [];
	lanes.on('*', event => {
		if (event.type === 'idle') {
			events.push(`idle ${event.key ?? '*'}`);
		}
	});
	expect(await lanes.write('a', () => 'write')).toBe('write');
	await flush();
	expect(events).toEqual([]);
	read.gate.resolve('read');
	expect(await reading).toBe('read');
	expect(events).toEqual(['idle a', 'idle *']);
});

test('quick reads and plain writes - the lane has ended when the caller resumes, however the task settled', async () => {
	const lanes = createLanes();
	const failure = new Error('task failed');
	for (const kind of ['read', 'write'] as const) {
		const fulfilled = heldRead<Response>();
		const rejected = heldRead<Response>();
		const resolving = lanes[kind]('k', fulfilled.task);
		const rejecting = lanes[kind]('j', rejected.task);
		expect(lanes.stats().active).toBe(2);
		const response = new Response('{}');
		fulfilled.gate.resolve(response);
		// The caller gets the task's value itself, and no step of the caller's sees the lane still held.
		expect(await resolving).toBe(response);
		expect(lanes.stats().lanes.map(lane => lane.key)).toEqual(['j']);
		rejected.gate.reject(failure);
		await expect(rejecting).rejects.toBe(failure);
		expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	}
});
