// Scheduling: how close a write batch with simulated latencies gets to its critical-path bound, and
// whether reads wait. Run by `npm run bench` after the overhead table; alone with
// `node bench/scheduling.js [--quick] [--check]`.
//
// The bound is what no scheduler can beat: the busiest lane's total latency (its writes must run one
// after another), or the total work divided by `concurrency` when that is larger.

import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {loadDist, seeded as random} from './common.js';

const {values} = parseArgs({options: {quick: {type: 'boolean'}, check: {type: 'boolean'}, seed: {type: 'string'}}});

const {createLanes} = await loadDist();

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

/** Writes spread unevenly over `keys` (a few hot lanes), latencies in [min, max] ms, reads alongside. */
function plan({keys, writes, reads, min, max, seed}) {
	const next = random(seed);
	const ops = [];
	for (let index = 0; index < writes; index++) {
		// Squaring skews the choice towards the first keys: some lanes are much busier than others.
		ops.push({kind: 'write', key: `objects/${Math.floor(next() ** 2 * keys)}`, ms: Math.round(min + next() * (max - min))});
	}

	for (let index = 0; index < reads; index++) {
		const at = Math.floor(next() * ops.length);
		ops.splice(at, 0, {kind: 'read', key: `objects/${Math.floor(next() * keys)}`, ms: Math.round(min + next() * (max - min))});
	}

	return ops;
}

function bound(ops, concurrency) {
	const lanes = new Map();
	let total = 0;
	for (const op of ops) {
		// Reads take global slots too, so they count as work; only writes make a lane busy.
		total += op.ms;
		if (op.kind === 'write') {
			lanes.set(op.key, (lanes.get(op.key) ?? 0) + op.ms);
		}
	}

	const longest = Math.max(...lanes.values());
	return concurrency === Number.POSITIVE_INFINITY ? {ms: longest, by: 'busiest lane'} : total / concurrency > longest ? {ms: total / concurrency, by: `work ÷ ${concurrency}`} : {ms: longest, by: 'busiest lane'};
}

async function run(ops, concurrency) {
	const lanes = createLanes(concurrency === Number.POSITIVE_INFINITY ? {} : {concurrency});
	const readWaits = [];
	const started = performance.now();
	await Promise.all(
		ops.map(op => {
			if (op.kind === 'read') {
				const submitted = performance.now();
				return lanes.read(op.key, async () => {
					readWaits.push(performance.now() - submitted);
					await sleep(op.ms);
				});
			}

			return lanes.write(op.key, () => sleep(op.ms));
		}),
	);
	return {makespan: performance.now() - started, readWaits};
}

const seed = Number(values.seed ?? 1);
const size = values.quick ? {keys: 20, writes: 200, reads: 50} : {keys: 50, writes: 1000, reads: 300};
const cases = [
	{name: `${size.writes} writes over ${size.keys} lanes, unlimited`, concurrency: Number.POSITIVE_INFINITY},
	{name: `${size.writes} writes over ${size.keys} lanes, concurrency 8`, concurrency: 8},
	{name: `${size.writes} writes over ${size.keys} lanes, concurrency 4`, concurrency: 4},
];

console.log('\nScheduling (simulated latencies 20–60 ms, reads alongside; bound = what no schedule can beat)\n');
console.log('| case | bound | makespan | makespan ÷ bound | reads: longest wait for a lane |');
console.log('| --- | --- | --- | --- | --- |');
let failed = false;
for (const {name, concurrency} of cases) {
	const ops = plan({...size, min: 20, max: 60, seed});
	const {ms, by} = bound(ops, concurrency);
	const {makespan, readWaits} = await run(ops, concurrency);
	const ratio = makespan / ms;
	const readWait = concurrency === Number.POSITIVE_INFINITY ? `${Math.max(...readWaits).toFixed(1)} ms` : 'n/a (reads take global slots)';
	console.log(`| ${name} | ${Math.round(ms)} ms (${by}) | ${Math.round(makespan)} ms | ${ratio.toFixed(3)} | ${readWait} |`);
	if (ratio > 1.05 || (concurrency === Number.POSITIVE_INFINITY && Math.max(...readWaits) > 5)) {
		failed = true;
	}
}

console.log(`\nTarget: makespan within 5% of the bound, reads never wait for a lane: ${failed ? 'FAIL' : 'PASS'}`);
if (values.check && failed) {
	process.exitCode = 1;
}
