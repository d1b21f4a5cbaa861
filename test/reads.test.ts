import {expect, test} from 'vitest';
import {createLanes} from '../src/index.js';
import {flush, recorder, track} from './helpers.js';

test(".read() - 'parallel' (default): a read never waits for a running or queued write on its key or its tree", async () => {
	const lanes = createLanes();
	const r = recorder();
	const done = [
		lanes.write('a', r.task('w1')),
		lanes.write('a', r.task('w2'), {signal: new AbortController().signal}),
		lanes.write('a/b', r.task('w3')),
		lanes.read('a', r.task('r1')),
		lanes.read(['a', 'a/b'], r.task('r2')),
		lanes.read('a/b/c', r.task('r3')),
		lanes.read('a', r.task('r4'), {signal: new AbortController().signal}),
	];
	await flush();
	expect(r.running).toEqual(new Set(['w1', 'r1', 'r2', 'r3', 'r4']));
	expect(r.contexts.get('r2')?.kind).toBe('read');
	for (const name of ['r1', 'r2', 'r3', 'r4', 'w1']) {
		r.finish(name);
	}

	await flush();
	expect(r.running).toEqual(new Set(['w2']));
	r.finish('w2');
	await flush();
	r.finish('w3');
	expect(await Promise.all(done)).toEqual(['w1', 'w2', 'w3', 'r1', 'r2', 'r3', 'r4']);
});

test(".read() - 'parallel': a running read never blocks a write, plain or not", async () => {
	const lanes = createLanes();
	const r = recorder();
	const reads = [lanes.read('a', r.task('r1')), lanes.read('a/b', r.task('r2')), lanes.read('a', r.task('r3'))];
	const writes = [lanes.write('a', r.task('plain')), lanes.write('a/c', r.task('signalled'), {signal: new AbortController().signal})];
	await flush();
	expect(r.running).toEqual(new Set(['r1', 'r2', 'r3', 'plain']));
	r.finish('plain');
	await flush();
	expect(r.running).toEqual(new Set(['r1', 'r2', 'r3', 'signalled']));
	r.finish('signalled');
	await Promise.all(writes);
	for (const name of ['r1', 'r2', 'r3']) {
		r.finish(name);
	}

	expect(await Promise.all(reads)).toEqual(['r1', 'r2', 'r3']);
	expect(lanes.stats().lanes).toEqual([]);
});

test(".read() - 'parallel': reads do not count against maxQueuePerKey", async () => {
	const lanes = createLanes({maxQueuePerKey: 1});
	const r = recorder();
	const write = lanes.write('a', r.task('w'), {signal: new AbortController().signal});
	const reads = Array.from({length: 5}, (_, index) => lanes.read('a', r.syncTask(`r${index}`)));
	expect(await Promise.all(reads)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
	r.finish('w');
	await write;
});

test(".read() - 'shared': a read waits for the writes queued before it; reads run together", async () => {
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	const done = [
		lanes.write('a', r.task('w1')),
		lanes.write('a', r.task('w2')),
		lanes.read('a', r.task('r1')),
		lanes.read('a', r.task('r2')),
		lanes.read('b', r.task('other')),
	];
	await flush();
	expect(r.running).toEqual(new Set(['w1', 'other']));
	r.finish('w1');
	await flush();
	expect(r.running).toEqual(new Set(['w2', 'other']));
	r.finish('w2');
	await flush();
	expect(r.running).toEqual(new Set(['r1', 'r2', 'other']));
	for (const name of ['r1', 'r2', 'other']) {
		r.finish(name);
	}

	expect(await Promise.all(done)).toEqual(['w1', 'w2', 'r1', 'r2', 'other']);
	expect(lanes.stats().lanes).toEqual([]);
});

test(".read() - 'shared': a write waits for every read queued before it, and later reads wait for that write", async () => {
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	const done = [
		lanes.read('a', r.task('r1')),
		lanes.read('a', r.task('r2'), {signal: new AbortController().signal}),
		lanes.write('a', r.task('w1')),
		lanes.read('a', r.task('r3')),
		lanes.write('a', r.task('w2'), {signal: new AbortController().signal}),
	];
	await flush();
	expect(r.running).toEqual(new Set(['r1', 'r2']));
	r.finish('r2');
	await flush();
	expect(r.running).toEqual(new Set(['r1']));
	r.finish('r1');
	await flush();
	expect(r.running).toEqual(new Set(['w1']));
	r.finish('w1');
	await flush();
	expect(r.running).toEqual(new Set(['r3']));
	r.finish('r3');
	await flush();
	expect(r.running).toEqual(new Set(['w2']));
	r.finish('w2');
	expect(await Promise.all(done)).toEqual(['r1', 'r2', 'w1', 'r3', 'w2']);
	expect(r.starts()).toEqual(['r1', 'r2', 'w1', 'r3', 'w2']);
});

test(".read() - 'shared': reads and writes conflict through the key tree", async () => {
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	const done = [
		lanes.write('a/b', r.task('child-write')),
		lanes.read('a', r.task('parent-read')),
		lanes.read('a/c', r.task('sibling-read')),
		lanes.write('a/c', r.task('sibling-write')),
		lanes.read('a/b/x', r.task('grandchild-read')),
	];
	await flush();
	expect(r.running).toEqual(new Set(['child-write', 'sibling-read']));
	r.finish('child-write');
	await flush();
	expect(r.running).toEqual(new Set(['parent-read', 'sibling-read', 'grandchild-read']));
	r.finish('sibling-read');
	await flush();
	// Still held by the parent read.
	expect(r.running).toEqual(new Set(['parent-read', 'grandchild-read']));
	r.finish('parent-read');
	await flush();
	expect(r.running).toEqual(new Set(['sibling-write', 'grandchild-read']));
	r.finish('sibling-write');
	r.finish('grandchild-read');
	await Promise.all(done);
	expect(lanes.stats().lanes).toEqual([]);
});

test(".read() - 'shared': a plain write queued behind a run of plain writes and a read keeps its place", async () => {
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	const done = [lanes.write('a', r.task('w1')), lanes.write('a', r.task('w2')), lanes.read('a', r.task('r')), lanes.write('a', r.task('w3'))];
	for (const name of ['w1', 'w2', 'r', 'w3']) {
		await flush();
		expect(r.running).toEqual(new Set([name]));
		r.finish(name);
	}

	await Promise.all(done);
	expect(r.starts()).toEqual(['w1', 'w2', 'r', 'w3']);
});

test(".read() - 'shared': a plain write after a finished read opens a fresh run", async () => {
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	await lanes.read('a', r.syncTask('r'));
	const writes = [lanes.write('a', r.task('w1')), lanes.write('a', r.task('w2'))];
	await flush();
	expect(r.running).toEqual(new Set(['w1']));
	r.finish('w1');
	r.finish('w2');
	await Promise.all(writes);
	expect(lanes.stats().lanes).toEqual([]);
});

test('.read() - results and errors go to their callers; a failing read frees its lane', async () => {
	const lanes = createLanes({reads: 'shared'});
	const r = recorder();
	const error = new Error('read failed');
	const failing = track(lanes.read('a', r.task('r1')));
	const throwing = track(lanes.read('a', r.throwingTask('r2', error)));
	const write = track(lanes.write('a', r.task('w')));
	await flush();
	expect(throwing.outcome).toEqual({status: 'rejected', reason: error});
	r.fail('r1', error);
	await flush();
	expect(failing.outcome).toEqual({status: 'rejected', reason: error});
	expect(r.running).toEqual(new Set(['w']));
	r.finish('w');
	await flush();
	expect(write.outcome).toEqual({status: 'fulfilled', value: 'w'});
});
