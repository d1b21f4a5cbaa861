import {describe, expect, test} from 'vitest';
import {createLanes, type Lanes, type OperationOptions} from '../src/index.js';
import {flush, recorder} from './helpers.js';

const paths: Array<[name: string, setup: () => {lanes: Lanes; options: OperationOptions | undefined}]> = [
	['without options', () => ({lanes: createLanes(), options: undefined})],
	['with a signal', () => ({lanes: createLanes(), options: {signal: new AbortController().signal}})],
];

describe.each(paths)('%s', (_name, setup) => {
	test('.write([a, b]) - holds both keys: waits for both and blocks both', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('a', r.task('a1'), options),
			lanes.write('b', r.task('b1'), options),
			lanes.write(['a', 'b'], r.task('ab'), options),
			lanes.write('a', r.task('a2'), options),
			lanes.write('b', r.task('b2'), options),
			lanes.write('c', r.task('c'), options),
		];
		await flush();
		expect(r.running).toEqual(new Set(['a1', 'b1', 'c']));
		r.finish('a1');
		await flush();
		// `a` is free but `ab` still needs `b`: it takes neither, so `a2` must not pass it either.
		expect(r.running).toEqual(new Set(['b1', 'c']));
		r.finish('b1');
		await flush();
		expect(r.running).toEqual(new Set(['ab', 'c']));
		expect(r.contexts.get('ab')?.keys).toEqual(['a', 'b']);
		r.finish('ab');
		await flush();
		expect(r.running).toEqual(new Set(['a2', 'b2', 'c']));
		for (const name of ['a2', 'b2', 'c']) {
			r.finish(name);
		}

		expect(await Promise.all(done)).toEqual(['a1', 'b1', 'ab', 'a2', 'b2', 'c']);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - keys named in any order are the same hold, in canonical order', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write(['b', 'a'], r.task('ba'), options),
			lanes.write(['a', 'b'], r.task('ab'), options),
			lanes.write(['/b/', 'a'], r.task('ba2'), options),
		];
		await flush();
		expect(r.log).toEqual(['start:ba']);
		expect(r.contexts.get('ba')?.keys).toEqual(['a', 'b']);
		r.finish('ba');
		await flush();
		r.finish('ab');
		await flush();
		r.finish('ba2');
		expect(await Promise.all(done)).toEqual(['ba', 'ab', 'ba2']);
		expect(r.log).toEqual(['start:ba', 'end:ba', 'start:ab', 'end:ab', 'start:ba2', 'end:ba2']);
	});

	test('.write() - overlapping key sets in opposite orders, with single-key writes between, never deadlock and keep submission order', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const plan: Array<[string, string | string[]]> = [
			['x', ['a', 'b']],
			['sa', 'a'],
			['y', ['b', 'a']],
			['sb', 'b'],
			['z', ['c', 'b']],
			['sc', 'c'],
			['w', ['c', 'a', 'b']],
			['sa2', 'a'],
		];
		const done = plan.map(([name, keys]) => lanes.write(keys, r.task(name), options));
		// One at a time (each conflicts with the previous one); finish whatever runs.
		const expected = ['x', 'sa', 'y', 'sb', 'z', 'sc', 'w', 'sa2'];
		for (const name of expected) {
			await flush();
			expect(r.running).toEqual(new Set([name]));
			r.finish(name);
		}

		expect(await Promise.all(done)).toEqual(expected);
	});

	test('.write() - a ring of two-key writes (every key wanted by two holders) completes in submission order', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const size = 5;
		const done: Array<Promise<unknown>> = [];
		for (let round = 0; round < 3; round++) {
			for (let index = 0; index < size; index++) {
				const name = `${round}:${index}`;
				done.push(lanes.write([`k${(index + 1) % size}`, `k${index}`], r.task(name), options));
			}
		}

		// Finish whatever runs, oldest first, until nothing runs; a deadlock would leave some unstarted.
		for (;;) {
			await flush();
			const [oldest] = r.running;
			if (oldest === undefined) {
				break;
			}

			r.finish(oldest);
		}

		expect(r.starts()).toHaveLength(15);
		await Promise.all(done);
		const starts = r.starts();
		// Writes sharing a key start in submission order.
		for (let first = 0; first < 15; first++) {
			for (let second = first + 1; second < 15; second++) {
				const a = first % size;
				const b = second % size;
				const share = a === b || (a + 1) % size === b || (b + 1) % size === a;
				if (share) {
					expect(starts.indexOf(`${Math.floor(first / size)}:${a}`)).toBeLessThan(starts.indexOf(`${Math.floor(second / size)}:${b}`));
				}
			}
		}
	});

	test('.write() - duplicate keys in the array are one key', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [lanes.write(['a', 'a', '/a/'], r.task('dup'), options), lanes.write('a', r.task('after'), options)];
		await flush();
		expect(r.log).toEqual(['start:dup']);
		expect(r.contexts.get('dup')?.keys).toEqual(['a']);
		expect(lanes.stats().lanes).toEqual([{key: 'a', queued: 1, running: 1, waitMs: expect.any(Number), heldMs: expect.any(Number)}]);
		r.finish('dup');
		r.finish('after');
		expect(await Promise.all(done)).toEqual(['dup', 'after']);
	});

	test('.write([]) - runs at once without a lane, even while every lane is busy', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const busy = lanes.write('a', r.task('busy'), options);
		const none = lanes.write([], r.task('none'), options);
		await flush();
		expect(r.running).toEqual(new Set(['busy', 'none']));
		expect(r.contexts.get('none')?.keys).toEqual([]);
		expect(lanes.stats().lanes.map(lane => lane.key)).toEqual(['a']);
		r.finish('none');
		expect(await none).toBe('none');
		r.finish('busy');
		await busy;
		expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	});

	test('.write() - a multi-key write conflicts through the tree on each of its keys', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('a/1', r.task('a/1')),
			lanes.write(['a/2/x', 'b'], r.task('multi'), options),
			lanes.write('a', r.task('a')),
			lanes.write('b/y', r.task('b/y')),
		];
		await flush();
		expect(r.running).toEqual(new Set(['a/1', 'multi']));
		r.finish('multi');
		await flush();
		expect(r.running).toEqual(new Set(['a/1', 'b/y']));
		r.finish('a/1');
		await flush();
		expect(r.running).toEqual(new Set(['a', 'b/y']));
		r.finish('a');
		r.finish('b/y');
		await Promise.all(done);
	});

	test('.write() - a multi-key write holding a key and its descendant waits for and blocks both', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const done = [
			lanes.write('a/b', r.task('child')),
			lanes.write(['a/b', 'a'], r.task('both'), options),
			lanes.write('a/c', r.task('sibling')),
		];
		await flush();
		expect(r.running).toEqual(new Set(['child']));
		r.finish('child');
		await flush();
		expect(r.running).toEqual(new Set(['both']));
		expect(r.contexts.get('both')?.keys).toEqual(['a', 'a/b']);
		r.finish('both');
		await flush();
		expect(r.running).toEqual(new Set(['sibling']));
		r.finish('sibling');
		await Promise.all(done);
		expect(lanes.stats().lanes).toEqual([]);
	});
});

test('.write() - an invalid key in the array rejects with a TypeError naming its index, and nothing is queued', async () => {
	const lanes = createLanes();
	let ran = false;
	await expect(
		lanes.write(['a', 3 as unknown as string], () => {
			ran = true;
		}),
	).rejects.toThrow(new TypeError('Expected `key[1]` to be a non-empty string, got `3` (number)'));
	await expect(lanes.write(['a', '//'], () => undefined)).rejects.toThrow(
		new TypeError('Expected `key[1]` to be a non-empty string with at least one segment, got `"//"` (string)'),
	);
	expect(ran).toBe(false);
	expect(lanes.stats().lanes).toEqual([]);
});
