import {describe, expect, test} from 'vitest';
import {createLanes} from '../src/index.js';
import {flush, recorder, track, writePaths} from './helpers.js';

const paths = writePaths;

describe.each(paths)('%s', (_name, setup) => {
	test('.write() - tasks of one key start in submission order, one at a time', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const results = ['a1', 'a2', 'a3', 'a4', 'a5'].map(name => lanes.write('a', r.task(name), options));
		await flush();
		expect(r.log).toEqual(['start:a1']);
		for (const name of ['a1', 'a2', 'a3', 'a4']) {
			r.finish(name);
			await flush();
		}

		expect(r.log).toEqual(['start:a1', 'end:a1', 'start:a2', 'end:a2', 'start:a3', 'end:a3', 'start:a4', 'end:a4', 'start:a5']);
		r.finish('a5');
		expect(await Promise.all(results)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
		expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	});

	test('.write() - a task finishing does not let a later one skip an earlier one', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const first = lanes.write('a', r.task('a1'), options);
		const second = lanes.write('a', r.task('a2'), options);
		const third = lanes.write('a', r.task('a3'), options);
		// Released before they run: they must still start one after another, in order.
		r.finish('a3');
		r.finish('a2');
		await flush();
		expect(r.log).toEqual(['start:a1']);
		r.finish('a1');
		expect(await Promise.all([first, second, third])).toEqual(['a1', 'a2', 'a3']);
		expect(r.log).toEqual(['start:a1', 'end:a1', 'start:a2', 'end:a2', 'start:a3', 'end:a3']);
	});

	test('.write() - each caller gets its own result or error, and failures never stop the lane', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const syncError = new Error('sync');
		const asyncError = new Error('async');
		const outcomes = [
			track(lanes.write('a', r.syncTask('value'), options)),
			track(lanes.write('a', r.throwingTask('throws', syncError), options)),
			track(lanes.write('a', r.task('rejects'), options)),
			track(lanes.write('a', r.task('resolves'), options)),
			track(lanes.write('a', () => Promise.reject(syncError), options)),
			track(lanes.write('a', r.syncTask('last'), options)),
		];
		await flush();
		expect(r.starts()).toEqual(['value', 'throws', 'rejects']);
		r.fail('rejects', asyncError);
		await flush();
		expect(r.starts()).toEqual(['value', 'throws', 'rejects', 'resolves']);
		r.finish('resolves', {answer: 42});
		await flush();
		expect(outcomes.map(outcome => outcome.outcome)).toEqual([
			{status: 'fulfilled', value: 'value'},
			{status: 'rejected', reason: syncError},
			{status: 'rejected', reason: asyncError},
			{status: 'fulfilled', value: {answer: 42}},
			{status: 'rejected', reason: syncError},
			{status: 'fulfilled', value: 'last'},
		]);
		expect((outcomes[1]!.outcome as {reason: unknown}).reason).toBe(syncError);
		expect((outcomes[2]!.outcome as {reason: unknown}).reason).toBe(asyncError);
		expect(r.starts()).toEqual(['value', 'throws', 'rejects', 'resolves', 'last']);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - different keys run in parallel', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const a = lanes.write('a', r.task('a'), options);
		const b = lanes.write('b', r.task('b'), options);
		const c = lanes.write('c', r.task('c'), options);
		await flush();
		expect(r.log).toEqual(['start:a', 'start:b', 'start:c']);
		r.finish('b');
		r.finish('c');
		r.finish('a');
		expect(await Promise.all([a, b, c])).toEqual(['a', 'b', 'c']);
	});

	test('.write() - synchronous tasks run in order and a long queue does not grow the stack', async () => {
		const {lanes, options} = setup();
		const order: number[] = [];
		const count = 10_000;
		const results: Array<Promise<number>> = [];
		for (let index = 0; index < count; index++) {
			results.push(
				lanes.write(
					'a',
					() => {
						order.push(index);
						return index;
					},
					options,
				),
			);
		}

		const values = await Promise.all(results);
		expect(values.every((value, index) => value === index)).toBe(true);
		expect(order.every((value, index) => value === index)).toBe(true);
		expect(order).toHaveLength(count);
		expect(lanes.stats().lanes).toEqual([]);
	});

	test('.write() - a write submitted from inside a running task of its key waits for it; other keys do not', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		let inner: Promise<unknown> | undefined;
		let other: Promise<unknown> | undefined;
		const outer = lanes.write(
			'a',
			async context => {
				inner = lanes.write('a', r.task('inner'), options);
				other = lanes.write('b', r.task('other'), options);
				return r.task('outer')(context);
			},
			options,
		);
		await flush();
		expect(r.running).toEqual(new Set(['outer', 'other']));
		r.finish('outer');
		await flush();
		expect(r.running).toEqual(new Set(['other', 'inner']));
		expect(r.log.slice(2)).toEqual(['end:outer', 'start:inner']);
		r.finish('inner');
		r.finish('other');
		expect(await Promise.all([outer, inner, other])).toEqual(['outer', 'inner', 'other']);
	});

	test('.write() - the task gets its context: canonical keys, kind, signal, increasing fencing tokens', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		const first = lanes.write('/a//', r.task('first'), options);
		const second = lanes.write('a', r.task('second'), options);
		await flush();
		r.finish('first');
		await flush();
		r.finish('second');
		await Promise.all([first, second]);
		const contexts = [r.contexts.get('first')!, r.contexts.get('second')!];
		expect(contexts.map(context => [context.keys, context.kind, context.signal])).toEqual([
			[['a'], 'write', options?.signal],
			[['a'], 'write', options?.signal],
		]);
		expect(contexts[0]!.id).not.toBe(contexts[1]!.id);
		expect(contexts[0]!.fencingToken).toBeLessThan(contexts[1]!.fencingToken);
	});

	test('.write() - a task returning a non-promise thenable holds the lane until it settles', async () => {
		const {lanes, options} = setup();
		const r = recorder();
		let settle: ((value: string) => void) | undefined;
		const thenable: PromiseLike<string> = {
			// biome-ignore lint/suspicious/noThenProperty: the point of the test is a bare thenable
			then(onFulfilled, onRejected) {
				return new Promise<string>(resolve => {
					settle = resolve;
				}).then(onFulfilled, onRejected);
			},
		};
		const first = lanes.write('a', () => thenable, options);
		const second = lanes.write('a', r.task('second'), options);
		await flush();
		expect(r.log).toEqual([]);
		settle!('thenable');
		await flush();
		expect(r.log).toEqual(['start:second']);
		r.finish('second');
		expect(await Promise.all([first, second])).toEqual(['thenable', 'second']);
	});
});

test('.write() - plain and general writes mixed on one key keep submission order', async () => {
	const lanes = createLanes();
	const r = recorder();
	const signal = () => ({signal: new AbortController().signal});
	const aborted = new AbortController();
	const reason = new Error('dropped');
	const outcomes = [
		track(lanes.write('a', r.task('p1'))),
		track(lanes.write('a', r.task('p2'))),
		track(lanes.write('a', r.task('s3'), signal())),
		track(lanes.write('a', r.task('p4'))),
		track(lanes.write('a', r.task('s5'), {signal: aborted.signal})),
		track(lanes.write('a', r.task('p6'))),
	];
	const unsubscribe = lanes.on('*', () => undefined);
	outcomes.push(track(lanes.write('a', r.task('l7'))));
	unsubscribe();
	outcomes.push(track(lanes.write('a', r.task('p8'))), track(lanes.write('a', r.task('s9'), signal())), track(lanes.write('a', r.task('p10'))));
	await flush();
	aborted.abort(reason);
	const expected = ['p1', 'p2', 's3', 'p4', 'p6', 'l7', 'p8', 's9', 'p10'];
	for (const name of expected) {
		await flush();
		expect(r.starts().at(-1)).toBe(name);
		expect(r.running).toEqual(new Set([name]));
		r.finish(name);
	}

	await flush();
	expect(r.starts()).toEqual(expected);
	expect(outcomes.map(outcome => outcome.outcome)).toEqual([
		...expected.slice(0, 4).map(value => ({status: 'fulfilled', value})),
		{status: 'rejected', reason},
		...expected.slice(4).map(value => ({status: 'fulfilled', value})),
	]);
	expect(lanes.stats().lanes).toEqual([]);
});

test('.write() - a new run of plain writes after a general write waits for it', async () => {
	const lanes = createLanes();
	const r = recorder();
	const general = lanes.write('a', r.task('g1'), {signal: new AbortController().signal});
	const plain = [lanes.write('a', r.task('p2')), lanes.write('a', r.task('p3'))];
	await flush();
	expect(r.log).toEqual(['start:g1']);
	r.finish('g1');
	await flush();
	expect(r.log).toEqual(['start:g1', 'end:g1', 'start:p2']);
	r.finish('p2');
	r.finish('p3');
	expect(await Promise.all([general, ...plain])).toEqual(['g1', 'p2', 'p3']);
	expect(r.starts()).toEqual(['g1', 'p2', 'p3']);
});

test('.write() - a drained lane starts the next plain write at once, with fresh order', async () => {
	const lanes = createLanes();
	const r = recorder();
	await lanes.write('a', r.syncTask('first'));
	const second = lanes.write('a', r.task('second'));
	const third = lanes.write('a', r.task('third'), {signal: new AbortController().signal});
	await flush();
	expect(r.starts()).toEqual(['first', 'second']);
	r.finish('second');
	r.finish('third');
	expect(await Promise.all([second, third])).toEqual(['second', 'third']);
	expect(r.starts()).toEqual(['first', 'second', 'third']);
});
