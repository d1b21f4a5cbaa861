// Conflict recovery between two uncoordinated writers: two lanes instances (two clients that know
// nothing of each other) increment one counter on one object of the reference server, each with
// `update()` and its default `attempts` and `conflictBackoff`. Counts how often the defaults run out
// (`ConflictError`) and checks that no increment is lost.
//
//   node bench/conflict-race.js [--runs 200] [--updates 20] [--modes etag,version] [--latency 5,30]
//                               [--attempts n] [--json file] [--check]
//
// `--check` exits with code 1 when a default ran out or an update was lost. `--dist <dir>` runs
// against another build of the package (to compare with an older version).

import {writeFileSync} from 'node:fs';
import {performance} from 'node:perf_hooks';
import {pathToFileURL} from 'node:url';
import {parseArgs} from 'node:util';
import {resolve} from 'node:path';

const {values} = parseArgs({
	options: {
		runs: {type: 'string', default: '200'},
		updates: {type: 'string', default: '20'},
		modes: {type: 'string', default: 'etag,version'},
		latency: {type: 'string', default: '5,30'},
		attempts: {type: 'string'},
		dist: {type: 'string'},
		json: {type: 'string'},
		check: {type: 'boolean'},
	},
});

const dist = values.dist ? pathToFileURL(resolve(values.dist)).href + '/' : new URL('../dist/', import.meta.url).href;
let lanesModule;
let testingModule;
try {
	lanesModule = await import(`${dist}index.js`);
	testingModule = await import(`${dist}testing/index.js`);
} catch {
	console.error(`${dist}index.js is missing: run \`npm run build\` first.`);
	process.exit(1);
}

const {capacities, createLanes, isConflictError} = lanesModule;
const {startLwwServer} = testingModule;

const runs = Number(values.runs);
const updates = Number(values.updates);
const modes = values.modes.split(',');
const latency = values.latency.split(',').map(Number);
const attempts = values.attempts === undefined ? undefined : Number(values.attempts);
for (const mode of modes) {
	if (mode !== 'etag' && mode !== 'version') {
		console.error(`Expected --modes to list etag and/or version, got ${mode}`);
		process.exit(1);
	}
}

/** Capacities keys with the reference server's `version` field as the precondition (Square-style). */
const versioned = () => ({
	...capacities(),
	name: 'capacities+version',
	versioning: {type: 'field', read: resource => resource.version, write: (body, version) => ({...body, version})},
});

const counterOf = object => object?.properties.counter?.number ?? 0;

async function race(mode, seed) {
	const server = await startLwwServer({objects: 1, latency: latency.length === 1 ? latency[0] : latency, mode, seed});
	const [id] = server.objectIds;
	const before = counterOf(server.object(id));
	const clients = [0, 1].map(() => createLanes({keys: mode === 'version' ? versioned() : capacities()}));
	const options = {
		method: 'PATCH',
		writeUrl: `${server.url}/object`,
		headers: {authorization: `Bearer ${server.token}`},
		...(attempts === undefined ? {} : {attempts}),
	};
	const started = performance.now();
	const outcomes = await Promise.all(
		clients.flatMap(lanes =>
			Array.from({length: updates}, () =>
				lanes
					.update(`${server.url}/object?id=${id}`, current => ({id, properties: {counter: {type: 'number', number: counterOf(current) + 1}}}), options)
					.then(
						result => ({ok: true, attempts: result.attempts}),
						error => ({ok: false, conflict: isConflictError(error), attempts: error.attempts, error}),
					),
			),
		),
	);
	const ms = performance.now() - started;
	const after = counterOf(server.object(id));
	await Promise.all(clients.map(lanes => lanes.close()));
	await server.close();
	const written = outcomes.filter(outcome => outcome.ok).length;
	const other = outcomes.find(outcome => !outcome.ok && !outcome.conflict);
	if (other) {
		throw other.error;
	}

	return {
		ms,
		conflicts: outcomes.filter(outcome => outcome.conflict).length,
		lost: written - (after - before),
		attempts: outcomes.map(outcome => outcome.attempts),
	};
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const summary = [];
for (const mode of modes) {
	let ranOut = 0;
	let conflicts = 0;
	let lost = 0;
	let ms = 0;
	const allAttempts = [];
	for (let run = 0; run < runs; run++) {
		const result = await race(mode, run + 1);
		ranOut += result.conflicts > 0 ? 1 : 0;
		conflicts += result.conflicts;
		lost += result.lost;
		ms += result.ms;
		allAttempts.push(...result.attempts);
	}

	allAttempts.sort((a, b) => a - b);
	const histogram = {};
	for (const attempts of allAttempts) {
		histogram[attempts] = (histogram[attempts] ?? 0) + 1;
	}

	summary.push({
		mode,
		runs,
		updatesPerRun: 2 * updates,
		runsThatRanOut: ranOut,
		conflictErrors: conflicts,
		lostUpdates: lost,
		attemptsMean: Number((allAttempts.reduce((sum, n) => sum + n, 0) / allAttempts.length).toFixed(2)),
		attemptsP99: quantile(allAttempts, 0.99),
		attemptsMax: allAttempts.at(-1),
		msPerRun: Math.round(ms / runs),
		histogram,
	});
}

console.log(`Two uncoordinated writers, ${updates} updates each on one object, server latency ${latency.join('-')} ms, attempts ${attempts ?? 'default'}`);
console.table(summary.map(({histogram, ...row}) => row));
for (const {mode, histogram} of summary) {
	// Updates by the attempts they took (the last bucket includes the ones that ran out).
	console.log(`${mode}: updates by attempts ${JSON.stringify(histogram)}`);
}

if (values.json) {
	writeFileSync(values.json, `${JSON.stringify({runs, updates, latency, attempts, summary}, null, '\t')}\n`);
}

if (values.check && summary.some(row => row.runsThatRanOut > 0 || row.lostUpdates !== 0)) {
	process.exitCode = 1;
}
