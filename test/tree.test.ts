import {describe, expect, test} from 'vitest';
import {createLanes} from '../src/index.js';
import {flush, recorder, writePaths} from './helpers.js';

const paths = writePaths.slice(0, 3);

describe.each(paths)('%s', (_name, setup) => {
	test('.write() - a parent waits for its child writes submitted before it; child writes submitted after it wait for it', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('objects/1/blocks/7', r.task('child1'), options),
			lanes.write('objects/1/blocks/7', r.task('child2'), options),
			lanes.write('objects/1', r.task('parent'), options),
			lanes.write('objects/1/blocks/7', r.task('child3'), options),
			lanes.write('objects/1/blocks/8', r.task('sibling'), options),
		];
		await flush();
		expect(r.log).toEqual(['start:child1']);
		r.finish('child1');
		await flush();
		expect(r.log.slice(1)).toEqual(['end:child1', 'start:child2']);
		r.finish('child2');
		await flush();
		expect(r.log.slice(3)).toEqual(['end:child2', 'start:parent']);
		r.finish('parent');
		await flush();
		expect(r.log.slice(5, 6)).toEqual(['end:parent']);
		expect(r.running).toEqual(new Set(['child3', 'sibling']));
		r.finish('child3');
		r.finish('sibling');
		expect(await Promise.all(done)).toEqual(['child1', 'child2', 'parent', 'child3', 'sibling']);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - a child of a parent lane that went idle and was cleaned up is under the parent made anew', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		// `objects` is made for `objects/1` and cleaned up with it; `objects/2` must not find the old one.
		const first = lanes.write('objects/1', r.task('first'), options);
		await flush();
		r.finish('first');
		expect(await first).toBe('first');
		expect(lanes.stats().lanes).toEqual([]);
		const child = lanes.write('objects/2', r.task('child'), options);
		const parent = lanes.write('objects', r.task('parent'), options);
		const other = lanes.write('objectsx/3', r.task('other'), options);
		await flush();
		expect(r.running).toEqual(new Set(['child', 'other']));
		r.finish('child');
		await flush();
		expect(r.running).toEqual(new Set(['other', 'parent']));
		r.finish('other');
		r.finish('parent');
		expect(await Promise.all([child, parent, other])).toEqual(['child', 'parent', 'other']);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - a deeper key under the collection found last is under its own parent, not the collection', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		// `objects/2` leaves `objects` as the parent found last; `objects/1/blocks/7` starts with it but is under `objects/1/blocks`.
		const object = lanes.write('objects/1', r.task('object'), options);
		const sibling = lanes.write('objects/2', r.task('sibling'), options);
		const block = lanes.write('objects/1/blocks/7', r.task('block'), options);
		await flush();
		expect(r.running).toEqual(new Set(['object', 'sibling']));
		r.finish('object');
		await flush();
		expect(r.running).toEqual(new Set(['sibling', 'block']));
		r.finish('sibling');
		r.finish('block');
		expect(await Promise.all([object, sibling, block])).toEqual(['object', 'sibling', 'block']);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - siblings run in parallel, and so do keys that share only a string prefix', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('objects/1', r.task('objects/1'), options),
			lanes.write('objects/2', r.task('objects/2'), options),
			lanes.write('objects/10', r.task('objects/10'), options),
			lanes.write('objects/1x/blocks/1', r.task('objects/1x/blocks/1'), options),
			lanes.write('objects', r.task('objects'), options),
		];
		await flush();
		expect(r.running).toEqual(new Set(['objects/1', 'objects/2', 'objects/10', 'objects/1x/blocks/1']));
		for (const name of ['objects/1', 'objects/2', 'objects/10']) {
			r.finish(name);
		}

		await flush();
		// The common parent waits for every child, including the one still running.
		expect(r.running).toEqual(new Set(['objects/1x/blocks/1']));
		r.finish('objects/1x/blocks/1');
		await flush();
		expect(r.running).toEqual(new Set(['objects']));
		r.finish('objects');
		await Promise.all(done);
	});

	test('.write() - an ancestor three levels up waits for a running descendant, and the descendant waits for a queued ancestor', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('a/b/c/d', r.task('deep1'), options),
			lanes.write('a', r.task('root'), options),
			lanes.write('a/b/c/d', r.task('deep2'), options),
			lanes.write('a/b/c/d/e', r.task('deeper'), options),
			lanes.write('a/x', r.task('other-branch'), options),
		];
		await flush();
		expect(r.log).toEqual(['start:deep1']);
		r.finish('deep1');
		await flush();
		expect(r.log.slice(1)).toEqual(['end:deep1', 'start:root']);
		r.finish('root');
		await flush();
		expect(r.log.slice(3, 4)).toEqual(['end:root']);
		expect(r.running).toEqual(new Set(['deep2', 'other-branch']));
		r.finish('deep2');
		await flush();
		expect(r.running).toEqual(new Set(['deeper', 'other-branch']));
		r.finish('deeper');
		r.finish('other-branch');
		await Promise.all(done);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - a parent queued behind a child waits for the whole subtree, not for later siblings', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('p/a', r.task('a1'), options),
			lanes.write('p/b', r.task('b1'), options),
			lanes.write('p', r.task('p1'), options),
			lanes.write('p/c', r.task('c1'), options),
			lanes.write('p', r.task('p2'), options),
		];
		await flush();
		expect(r.running).toEqual(new Set(['a1', 'b1']));
		r.finish('b1');
		await flush();
		expect(r.running).toEqual(new Set(['a1']));
		r.finish('a1');
		await flush();
		expect(r.running).toEqual(new Set(['p1']));
		r.finish('p1');
		await flush();
		expect(r.running).toEqual(new Set(['c1']));
		r.finish('c1');
		await flush();
		expect(r.running).toEqual(new Set(['p2']));
		r.finish('p2');
		await Promise.all(done);
		expect(r.starts()).toEqual(['a1', 'b1', 'p1', 'c1', 'p2']);
	});
});

test('.write() - plain writes on a child, then a plain write on the parent, then plain writes on the child keep submission order', async () => {
	const lanes = createLanes();
	const r = recorder();
	const done = [
		lanes.write('objects/1/blocks/7', r.task('c1')),
		lanes.write('objects/1/blocks/7', r.task('c2')),
		lanes.write('objects/1/blocks/8', r.task('s1')),
		lanes.write('objects/1', r.task('parent')),
		lanes.write('objects/1/blocks/7', r.task('c3')),
		lanes.write('objects/1/blocks/7', r.task('c4')),
		lanes.write('objects/1', r.task('parent2')),
	];
	await flush();
	expect(r.running).toEqual(new Set(['c1', 's1']));
	r.finish('c1');
	r.finish('s1');
	await flush();
	expect(r.running).toEqual(new Set(['c2']));
	r.finish('c2');
	await flush();
	expect(r.running).toEqual(new Set(['parent']));
	r.finish('parent');
	await flush();
	expect(r.running).toEqual(new Set(['c3']));
	r.finish('c3');
	await flush();
	expect(r.running).toEqual(new Set(['c4']));
	r.finish('c4');
	await flush();
	expect(r.running).toEqual(new Set(['parent2']));
	r.finish('parent2');
	await Promise.all(done);
	expect(lanes.stats().lanes).toEqual([]);
});

test('.write() - plain writes on a parent, then a child write with a signal, then plain parent writes keep submission order', async () => {
	const lanes = createLanes();
	const r = recorder();
	const done = [
		lanes.write('a', r.task('a1')),
		lanes.write('a', r.task('a2')),
		lanes.write('a/b', r.task('child'), {signal: new AbortController().signal}),
		lanes.write('a', r.task('a3')),
	];
	for (const name of ['a1', 'a2', 'child', 'a3']) {
		await flush();
		expect(r.running).toEqual(new Set([name]));
		r.finish(name);
	}

	await Promise.all(done);
	expect(r.starts()).toEqual(['a1', 'a2', 'child', 'a3']);
});

test('.write() - keys are canonical paths: slashes do not make new lanes', async () => {
	const lanes = createLanes();
	const r = recorder();
	const done = [lanes.write('/objects//1/', r.task('first')), lanes.write('objects/1', r.task('second')), lanes.write('objects/1/', r.task('third'))];
	await flush();
	expect(r.log).toEqual(['start:first']);
	expect(lanes.stats().lanes).toEqual([{key: 'objects/1', queued: 2, running: 1, waitMs: expect.any(Number), heldMs: expect.any(Number)}]);
	r.finish('first');
	r.finish('second');
	r.finish('third');
	await Promise.all(done);
	expect(r.starts()).toEqual(['first', 'second', 'third']);
});

test('.write() - a parent waiting for its children does not block an unrelated tree', async () => {
	const lanes = createLanes();
	const r = recorder();
	const done = [lanes.write('a/b', r.task('child')), lanes.write('a', r.task('parent')), lanes.write('b/a', r.task('unrelated'))];
	await flush();
	expect(r.running).toEqual(new Set(['child', 'unrelated']));
	r.finish('unrelated');
	r.finish('child');
	await flush();
	expect(r.running).toEqual(new Set(['parent']));
	r.finish('parent');
	await Promise.all(done);
});
