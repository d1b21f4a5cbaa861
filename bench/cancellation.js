// Cancellation storms: how long a deep queue takes to settle when its waiters give up together,
// and the longest single `abort()`. Run by `npm run bench`; alone with `node bench/cancellation.js [--quick]`.
//
// Every storm holds its lane with one write that never ends, queues N waiters behind it, cancels
// them all, then releases the lane and checks that it drains and `stats()` is empty. The time is
// measured from the first cancellation (or, for timeouts, from when the timers are due) to the
// moment every waiter has rejected. `bare abort` is the platform's own cost of aborting N
// AbortControllers with one listener each, for scale.

import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {loadDist} from './common.js';

const {values} = parseArgs({options: {quick: {type: 'boolean'}}});

const {createLanes} = await loadDist();
const depth = values.quick ? 10_000 : 50_000;
const treeDepth = values.quick ? 5000 : 20_000;
const reason = new Error('gave up');
const shapes = [['a'], ['a/b'], ['a/b', 'z'], ['a/c/d'], ['z', 'a'], ['a/c']];

function hold(lanes, keys) {
	let release;
	const done = lanes.write(keys, () => new Promise(resolve => (release = resolve)));
	return {release: () => release(), done};
}

async function drained(lanes, head) {
	head.release();
	await head.done;
	await lanes.onIdle();
	const {active, queued, lanes: rows} = lanes.stats();
	if (active + queued + rows.length !== 0) {
		throw new Error('the lanes did not drain');
	}
}

async function aborts({mode = 'parallel', count, keysOf, order}) {
	const lanes = createLanes({reads: mode});
	const head = hold(lanes, ['a', 'z']);
	const controllers = Array.from({length: count}, () => new AbortController());
	const settled = controllers.map((controller, index) => {
		const [kind, keys] = keysOf(index);
		return lanes[kind](keys, () => undefined, {signal: controller.signal}).catch(() => undefined);
	});
	let worst = 0;
	const start = performance.now();
	for (const index of order(count)) {
		const before = performance.now();
		controllers[index].abort(reason);
		worst = Math.max(worst, performance.now() - before);
	}

	await Promise.all(settled);
	const ms = performance.now() - start;
	await drained(lanes, head);
	return {ms, worst};
}

async function timeouts({count, keysOf}) {
	const timeout = 20;
	const lanes = createLanes({queueTimeout: timeout});
	const head = hold(lanes, ['a', 'z']);
	const settled = Array.from({length: count}, (_, index) => lanes.write(keysOf(index), () => undefined).catch(() => undefined));
	const due = performance.now() + timeout;
	await Promise.all(settled);
	const ms = Math.max(0, performance.now() - due);
	await drained(lanes, head);
	return {ms, worst: undefined};
}

async function bareAbort(count) {
	const controllers = Array.from({length: count}, () => new AbortController());
	const settled = controllers.map(({signal}) => new Promise(resolve => signal.addEventListener('abort', resolve, {once: true})));
	let worst = 0;
	const start = performance.now();
	for (const controller of controllers) {
		const before = performance.now();
		controller.abort(reason);
		worst = Math.max(worst, performance.now() - before);
	}

	await Promise.all(settled);
	return {ms: performance.now() - start, worst};
}

const oldestFirst = count => Array.from({length: count}, (_, index) => index);
const newestFirst = count => oldestFirst(count).reverse();
// A fixed permutation (multiplying by a prime coprime to the count), so every run cancels in the same order.
const shuffled = count => oldestFirst(count).map(index => (index * 7919) % count);

const storms = [
	['bare abort (platform floor)', depth, () => bareAbort(depth)],
	['one key, abort oldest-first', depth, () => aborts({count: depth, keysOf: () => ['write', 'a'], order: oldestFirst})],
	['one key, abort newest-first', depth, () => aborts({count: depth, keysOf: () => ['write', 'a'], order: newestFirst})],
	['one key, queueTimeout', depth, () => timeouts({count: depth, keysOf: () => 'a'})],
	['tree + multi-key, queueTimeout', treeDepth, () => timeouts({count: treeDepth, keysOf: index => shapes[index % shapes.length]})],
	[
		"reads: 'shared', random aborts",
		depth,
		() => aborts({mode: 'shared', count: depth, keysOf: index => [index % 3 === 0 ? 'write' : 'read', 'a'], order: shuffled}),
	],
];

console.log(`Cancellation storms (node ${process.version}${values.quick ? ', quick' : ''})\n`);
console.log('| storm | waiters | settled in | longest abort() |');
console.log('|-------|--------:|-----------:|----------------:|');
for (const [name, count, run] of storms) {
	const {ms, worst} = await run();
	console.log(`| ${name} | ${count.toLocaleString('en')} | ${ms.toFixed(0)} ms | ${worst === undefined ? '—' : `${worst.toFixed(2)} ms`} |`);
}
