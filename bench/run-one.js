// One measurement in a process of its own, so JIT state and heap numbers never leak from one
// contender into the next. Prints one JSON object on stdout.
//   node --expose-gc bench/run-one.js --workload <id> --contender <name> [--quick] [--uncapped]
import {parseArgs} from 'node:util';
import {checkExclusiveFifo} from './check.js';
import {findContender} from './contenders.js';
import {findWorkload, runWorkload, sizeFor, warmUpSize} from './workloads.js';

const gcRounds = 5;

/** The smallest `heapUsed` over a few full collections, each after pending callbacks have run. */
async function settledHeapUsed() {
	let least = Number.POSITIVE_INFINITY;
	for (let round = 0; round < gcRounds; round++) {
		await new Promise((resolve) => setImmediate(resolve));
		globalThis.gc();
		least = Math.min(least, process.memoryUsage().heapUsed);
	}
	return least;
}

async function measure(workloadId, contenderName, sizing) {
	if (typeof globalThis.gc !== 'function') {
		throw new Error('run with `node --expose-gc`: the heap numbers need `global.gc()`');
	}
	const workload = findWorkload(workloadId);
	const contender = findContender(contenderName);
	const size = sizeFor(workload, contender, sizing);

	const problems = await checkExclusiveFifo(contender);
	if (problems.length > 0) {
		return {refused: true, problems, size};
	}

	const lanes = await contender.create();
	const keyNames = Array.from({length: size.keys}, (_, index) => `k${index}`);

	await runWorkload(lanes, keyNames, warmUpSize(size));
	await lanes.drain();

	const heapBefore = await settledHeapUsed();
	const {ms, submitMs} = await runWorkload(lanes, keyNames, size);
	await lanes.drain();
	const heapAfter = await settledHeapUsed();
	// Read after the measurement: the instance and the key names must stay alive through it.
	const liveKeys = lanes.liveKeys();
	if (keyNames.length !== size.keys) {
		throw new Error('key names changed during the run');
	}
	if (liveKeys !== 0) {
		return {refused: true, problems: [`${liveKeys} keys still held after the drain`], size};
	}
	return {refused: false, size, ms, submitMs, heapBefore, heapAfter, retainedBytes: heapAfter - heapBefore};
}

const {values} = parseArgs({
	options: {
		workload: {type: 'string'},
		contender: {type: 'string'},
		quick: {type: 'boolean', default: false},
		uncapped: {type: 'boolean', default: false},
	},
});

try {
	if (values.workload === undefined || values.contender === undefined) {
		throw new Error('Usage: node --expose-gc bench/run-one.js --workload <id> --contender <name> [--quick] [--uncapped]');
	}
	const result = await measure(values.workload, values.contender, {quick: values.quick, uncapped: values.uncapped});
	process.stdout.write(`${JSON.stringify({workload: values.workload, contender: values.contender, ...result})}\n`);
} catch (error) {
	const message = error instanceof Error ? error.message : String(error);
	process.stdout.write(`${JSON.stringify({workload: values.workload, contender: values.contender, error: message})}\n`);
	process.exitCode = 1;
}
