import {afterEach, describe, expect, test, vi} from 'vitest';
import {createLanes, type LaneEvent, type LaneStats} from '../src/index.js';
import {flush, recorder, track, writePaths} from './helpers.js';

afterEach(() => {
	vi.useRealTimers();
	vi.unstubAllGlobals();
});

const byKey = (lanes: readonly LaneStats[]) => [...lanes].sort((a, b) => (a.key < b.key ? -1 : 1));

const paths = writePaths.slice(0, 2);

describe.each(paths)('%s', (_name, setup) => {
	test('stats() - queued, running, waitMs and heldMs per lane, in exact milliseconds', async () => {
		vi.useFakeTimers();
		const {lanes, options} = setup();
		const r = recorder();
		const done = [lanes.write('a', r.task('a1'), options), lanes.write('a', r.task('a2'), options), lanes.write('b', r.task('b1'), options)];
		await flush();
		expect(lanes.stats()).toEqual({
			active: 2,
			queued: 1,
			waitingForSlot: 0,
			lanes: expect.any(Array),
		});
		await vi.advanceTimersByTimeAsync(100);
		done.push(lanes.write('a', r.task('a3'), options));
		await vi.advanceTimersByTimeAsync(150);
		expect(byKey(lanes.stats().lanes)).toEqual([
			{key: 'a', queued: 2, running: 1, waitMs: 250, heldMs: 250},
			{key: 'b', queued: 0, running: 1, waitMs: 0, heldMs: 250},
		]);
		r.finish('a1');
		r.finish('b1');
		await flush();
		await vi.advanceTimersByTimeAsync(150);
		expect(lanes.stats()).toEqual({
			active: 1,
			queued: 1,
			waitingForSlot: 0,
			lanes: [{key: 'a', queued: 1, running: 1, waitMs: 300, heldMs: 150}],
		});
		r.finish('a2');
		r.finish('a3');
		await Promise.all(done);
		await flush();
		expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	});

	test('onIdle(key) - resolves when that key and every key below it have drained, regardless of other keys', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('a/b', r.task('child'), options),
			lanes.write('a', r.task('parent'), options),
			lanes.write('c', r.task('other'), options),
		];
		await flush();
		const subtree = track(lanes.onIdle('a'));
		const child = track(lanes.onIdle('a/b'));
		const everything = track(lanes.onIdle());
		const unknown = track(lanes.onIdle('zzz'));
		await flush();
		expect([subtree, child, everything, unknown].map(entry => entry.outcome.status)).toEqual(['pending', 'pending', 'pending', 'fulfilled']);
		r.finish('child');
		await flush();
		// `a/b` itself is drained, but the parent write on `a` now runs.
		expect([subtree, everything].map(entry => entry.outcome.status)).toEqual(['pending', 'pending']);
		r.finish('parent');
		await flush();
		expect([subtree, child, everything].map(entry => entry.outcome.status)).toEqual(['fulfilled', 'fulfilled', 'pending']);
		r.finish('other');
		await flush();
		expect(everything.outcome.status).toBe('fulfilled');
		await Promise.all(done);
	});
});

test('stats() - multi-key and read operations are counted on each of their lanes', async () => {
	vi.useFakeTimers();
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	const done = [lanes.write('a', r.task('w')), lanes.write(['a', 'b'], r.task('multi')), lanes.read('b', r.task('read'))];
	await vi.advanceTimersByTimeAsync(40);
	expect(lanes.stats()).toEqual({
		active: 1,
		queued: 2,
		waitingForSlot: 0,
		lanes: [
			{key: 'a', queued: 1, running: 1, waitMs: 40, heldMs: 40},
			{key: 'b', queued: 2, running: 0, waitMs: 40, heldMs: 0},
		],
	});
	r.finish('w');
	await vi.advanceTimersByTimeAsync(10);
	expect(lanes.stats().lanes).toEqual([
		{key: 'a', queued: 0, running: 1, waitMs: 0, heldMs: 10},
		{key: 'b', queued: 1, running: 1, waitMs: 50, heldMs: 10},
	]);
	r.finish('multi');
	r.finish('read');
	await vi.advanceTimersByTimeAsync(0);
	await Promise.all(done);
	expect(lanes.stats().lanes).toEqual([]);
});

/*
Bug: stats() takes the first holder of a lane in submission order as the longest-running one, but a
parallel read submitted after a queued write starts before it, so heldMs under-reports.
*/
test('stats() - heldMs is the longest current hold even when a later read started first', async () => {
	vi.useFakeTimers();
	const lanes = createLanes();
	const r = recorder();
	const done = [lanes.write('a', r.task('w1'), {signal: new AbortController().signal}), lanes.write('a', r.task('w2'), {signal: new AbortController().signal})];
	await vi.advanceTimersByTimeAsync(5);
	done.push(lanes.read('a', r.task('read')));
	await vi.advanceTimersByTimeAsync(5);
	r.finish('w1');
	await vi.advanceTimersByTimeAsync(10);
	// The read has held `a` for 15 ms, w2 for 10 ms.
	expect(lanes.stats().lanes).toEqual([{key: 'a', queued: 0, running: 2, waitMs: 0, heldMs: 15}]);
	r.finish('w2');
	r.finish('read');
	await Promise.all(done);
});

test('stats() and onIdle(key) - 10 000 distinct keys leave no lane behind once drained', async () => {
	const lanes = createLanes();
	const keys = Array.from({length: 10_000}, (_, index) => `objects/${index}/blocks/${index % 7}`);
	const pending: Array<Promise<unknown>> = [];
	for (const [index, key] of keys.entries()) {
		if (index % 3 === 0) {
			pending.push(lanes.write(key, async () => index));
		} else if (index % 3 === 1) {
			pending.push(lanes.write([key, `spaces/${index}`], async () => index, {signal: new AbortController().signal}));
		} else {
			pending.push(lanes.read(key, async () => index));
		}
	}

	const busy = track(lanes.onIdle(keys[0]!));
	expect(lanes.stats().lanes.length).toBeGreaterThan(0);
	await Promise.all(pending);
	await flush();
	expect(busy.outcome.status).toBe('fulfilled');
	expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	// A lingering node would make onIdle(key) wait for an operation that no longer exists.
	let resolved = 0;
	for (const key of [...keys, 'objects', 'objects/1', 'spaces', 'spaces/1']) {
		void lanes.onIdle(key).then(() => {
			resolved++;
		});
	}

	await Promise.resolve();
	expect(resolved).toBe(10_004);
});

test('on() - the general path reports enqueue, start, done, error and idle, in order, with exact fields', async () => {
	vi.useFakeTimers();
	const lanes = createLanes();
	const r = recorder();
	const events: LaneEvent[] = [];
	lanes.on('*', event => events.push(event));
	const error = new Error('failed');
	const first = lanes.write('a', r.task('first'));
	const second = track(lanes.write('a', r.task('second')));
	const read = lanes.read(['b', 'a'], r.syncTask('read'));
	await vi.advanceTimersByTimeAsync(100);
	r.finish('first');
	await vi.advanceTimersByTimeAsync(50);
	r.fail('second', error);
	await vi.advanceTimersByTimeAsync(0);
	await Promise.all([first, read]);
	const [id1, id2] = [r.contexts.get('first')!.id, r.contexts.get('second')!.id];
	const id3 = r.contexts.get('read')!.id;
	expect([id1 < id2, id2 < id3]).toEqual([true, true]);
	expect(events).toEqual([
		{type: 'enqueue', id: id1, keys: ['a'], kind: 'write', request: undefined, queued: 1},
		{type: 'start', id: id1, keys: ['a'], kind: 'write', request: undefined, waitMs: 0},
		{type: 'enqueue', id: id2, keys: ['a'], kind: 'write', request: undefined, queued: 1},
		{type: 'enqueue', id: id3, keys: ['a', 'b'], kind: 'read', request: undefined, queued: 2},
		{type: 'start', id: id3, keys: ['a', 'b'], kind: 'read', request: undefined, waitMs: 0},
		{type: 'done', id: id3, keys: ['a', 'b'], kind: 'read', request: undefined, heldMs: 0},
		{type: 'idle', key: 'b'},
		{type: 'done', id: id1, keys: ['a'], kind: 'write', request: undefined, heldMs: 100},
		{type: 'start', id: id2, keys: ['a'], kind: 'write', request: undefined, waitMs: 100},
		{type: 'error', id: id2, keys: ['a'], kind: 'write', request: undefined, phase: 'running', error},
		{type: 'idle', key: 'a'},
		{type: 'idle', key: undefined},
	]);
	expect(second.outcome).toEqual({status: 'rejected', reason: error});
});

test('on() - an operation that leaves the queue reports an error in phase queued', async () => {
	vi.useFakeTimers();
	const lanes = createLanes({queueTimeout: 500});
	const r = recorder();
	const events: LaneEvent[] = [];
	lanes.on('error', event => events.push(event));
	const controller = new AbortController();
	const running = lanes.write('a', r.task('running'));
	const aborted = track(lanes.write('a', r.task('aborted'), {signal: controller.signal}));
	const timedOut = track(lanes.write('a', r.task('timed-out')));
	controller.abort('stop');
	await vi.advanceTimersByTimeAsync(500);
	expect(aborted.outcome).toEqual({status: 'rejected', reason: 'stop'});
	const timeout = (timedOut.outcome as {reason: unknown}).reason;
	expect(events).toEqual([
		{type: 'error', id: expect.any(Number), keys: ['a'], kind: 'write', request: undefined, phase: 'queued', error: 'stop'},
		{type: 'error', id: expect.any(Number), keys: ['a'], kind: 'write', request: undefined, phase: 'queued', error: timeout},
	]);
	r.finish('running');
	await running;
});

test('on() - a handler gets only its type, on() returns an unsubscribe and off() removes a handler', async () => {
	const lanes = createLanes();
	const starts: number[] = [];
	const all: string[] = [];
	const onStart = (event: {id: number}) => {
		starts.push(event.id);
	};

	const unsubscribe = lanes.on('start', onStart);
	const unsubscribeAll = lanes.on('*', event => all.push(event.type));
	await lanes.write('a', () => undefined);
	expect(starts).toHaveLength(1);
	expect(all).toEqual(['enqueue', 'start', 'done', 'idle', 'idle']);
	unsubscribe();
	await lanes.write('a', () => undefined);
	expect(starts).toHaveLength(1);
	expect(all).toHaveLength(10);
	unsubscribeAll();
	lanes.on('start', onStart);
	lanes.off('start', onStart);
	await lanes.write('a', () => undefined);
	expect(starts).toHaveLength(1);
	expect(all).toHaveLength(10);
});

test('on() - a throwing handler does not break the lane; its error is rethrown outside the engine', async () => {
	const microtasks: Array<() => void> = [];
	vi.stubGlobal('queueMicrotask', (callback: () => void) => {
		microtasks.push(callback);
	});
	const lanes = createLanes();
	const r = recorder();
	const broken = new Error('handler bug');
	const seen: string[] = [];
	lanes.on('start', () => {
		throw broken;
	});
	lanes.on('*', event => seen.push(event.type));
	const done = [lanes.write('a', r.task('w1')), lanes.write('a', r.task('w2'))];
	await flush();
	r.finish('w1');
	await flush();
	r.finish('w2');
	expect(await Promise.all(done)).toEqual(['w1', 'w2']);
	expect(seen).toEqual(['enqueue', 'start', 'enqueue', 'done', 'start', 'done', 'idle', 'idle']);
	expect(microtasks).toHaveLength(2);
	for (const rethrow of microtasks) {
		expect(rethrow).toThrow(broken);
	}
});

test('on() - rejects unknown event types and non-function handlers', () => {
	const lanes = createLanes();
	expect(() => lanes.on('finish' as never, () => undefined)).toThrow(
		new TypeError('Expected `type` to be one of enqueue, start, retry, done, error, idle, *, got `"finish"` (string)'),
	);
	expect(() => lanes.on('start', undefined as never)).toThrow(new TypeError('Expected `handler` to be a function, got `undefined` (undefined)'));
});

test('on() - a listener added while plain writes run orders the later writes after them and reports the drain', async () => {
	const lanes = createLanes();
	const r = recorder();
	const done = [lanes.write('a', r.task('p1')), lanes.write('a', r.task('p2'))];
	await flush();
	const events: LaneEvent[] = [];
	lanes.on('*', event => events.push(event));
	done.push(lanes.write('a', r.task('l3')));
	for (const name of ['p1', 'p2', 'l3']) {
		await flush();
		expect(r.running).toEqual(new Set([name]));
		r.finish(name);
	}

	await Promise.all(done);
	expect(events.map(event => event.type)).toEqual(['enqueue', 'start', 'done', 'idle', 'idle']);
});
