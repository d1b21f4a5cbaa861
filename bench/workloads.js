// The workloads. Every contender runs the same one: all writes are submitted synchronously,
// round-robin over the keys, and only then awaited, so the queues get as deep as they can.

/**
 * `cap` is the depth used for contenders marked `quadratic` (see contenders.js): one key with
 * 100k waiters would take them minutes, so they run fewer writes and the report says so.
 * `quick` holds the smaller sizes of a smoke run.
 */
export const workloads = [
	{
		id: '1k-keys',
		name: '1k keys x 200 writes',
		full: {keys: 1000, perKey: 200},
		quick: {keys: 1000, perKey: 20},
	},
	{
		id: 'one-key-100k',
		name: '100k writes on one key',
		full: {keys: 1, perKey: 100_000, cap: 10_000},
		quick: {keys: 1, perKey: 20_000, cap: 2000},
		growth: 'base',
	},
	{
		id: 'one-key-200k',
		name: '200k writes on one key',
		full: {keys: 1, perKey: 200_000, cap: 20_000},
		quick: {keys: 1, perKey: 40_000, cap: 4000},
		growth: 'double',
	},
	{
		id: '1m-keys',
		name: '1M distinct keys',
		full: {keys: 1_000_000, perKey: 1},
		quick: {keys: 100_000, perKey: 1},
		heap: true,
	},
];

export function findWorkload(id) {
	const workload = workloads.find((candidate) => candidate.id === id);
	if (workload === undefined) {
		throw new Error(`Unknown workload \`${id}\`; expected one of ${workloads.map(({id}) => `\`${id}\``).join(', ')}`);
	}
	return workload;
}

/** The size a contender runs: the workload's, or the capped depth for quadratic contenders. */
export function sizeFor(workload, contender, {quick = false, uncapped = false} = {}) {
	const {keys, perKey, cap} = quick ? workload.quick : workload.full;
	const capped = contender.quadratic && !uncapped && cap !== undefined && cap < perKey;
	const depth = capped ? cap : perKey;
	return {keys, perKey: depth, total: keys * depth, capped};
}

/** A tenth of the run on the same instance, so the JIT has seen the code paths before the clock starts. */
export function warmUpSize({keys, perKey}) {
	return perKey > 1 ? {keys, perKey: Math.ceil(perKey / 10)} : {keys: Math.ceil(keys / 10), perKey};
}

const noop = async () => {};

/**
 * Submits `keys x perKey` no-op writes round-robin, then awaits them all. Only numbers come back,
 * so nothing of the run stays reachable once this returns.
 */
export async function runWorkload(lanes, keyNames, {keys, perKey}) {
	const total = keys * perKey;
	const pending = new Array(total);
	const start = performance.now();
	let index = 0;
	for (let round = 0; round < perKey; round++) {
		for (let key = 0; key < keys; key++) {
			pending[index++] = lanes.write(keyNames[key], noop);
		}
	}
	const submitted = performance.now();
	await Promise.all(pending);
	const end = performance.now();
	return {ms: end - start, submitMs: submitted - start};
}
