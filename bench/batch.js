// The batch job at full size: `writelane run` (the built CLI, a real process) applies 10,000
// operations over 500 objects to the reference server, then the same file is applied one request
// at a time to a second server; the two final states must be equal. Prints throughput, the
// critical-path bound and the efficiency the CLI measured.
//
//   npm run build && node bench/batch.js [--ops 10000] [--objects 500] [--concurrency 16]
//                                        [--latency 5-30] [--no-journal] [--check]
//
// The test suite runs the same scenario at 400 operations over 20 objects (test/cli-run.test.ts).

import {spawn} from 'node:child_process';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {loadavg, tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {isDeepStrictEqual, parseArgs} from 'node:util';
import {loadDist} from './common.js';

const {values} = parseArgs({
	options: {
		ops: {type: 'string', default: '10000'},
		objects: {type: 'string', default: '500'},
		concurrency: {type: 'string', default: '16'},
		latency: {type: 'string', default: '5-30'},
		'no-journal': {type: 'boolean'},
		check: {type: 'boolean'},
	},
});

const cli = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
const testing = await loadDist('testing/index.js', {script: 'npm run bench'});

const count = Number(values.ops);
const objects = Number(values.objects);
const [min, max = min] = values.latency.split('-').map(Number);

/** PATCHes of properties and block appends (their order shows in the block list), spread over the objects. */
function operations(ids) {
	return Array.from({length: count}, (_, index) => {
		const id = ids[(index * 7 + (index % 3)) % ids.length];
		const tag = `op${index}`;
		if (index % 3 === 2) {
			return {id: tag, method: 'POST', path: '/blocks/append', body: {id, blocks: [{type: 'TextBlock', tokens: [{type: 'TextToken', text: tag, style: {}}]}]}};
		}

		return {id: tag, method: 'PATCH', path: '/object', body: {id, properties: {counter: {type: 'number', number: index}, [`p${index % 4}`]: {type: 'text', text: tag}}}};
	});
}


/** The plain-fetch ceiling, run as `node -e` with the file, the base URL and the number of workers; prints its time in ms. */
const plainFetch = `
import {readFileSync} from 'node:fs';
const [file, baseUrl, workers] = process.argv.slice(1);
const ops = readFileSync(file, 'utf8').trim().split('\\n').map(line => JSON.parse(line));
const headers = {authorization: 'Bearer ' + process.env.BENCH_TOKEN, 'content-type': 'application/json'};
const started = performance.now();
let next = 0;
await Promise.all(Array.from({length: Number(workers)}, async () => {
	while (next < ops.length) {
		const op = ops[next++];
		const response = await fetch(baseUrl + op.path, {method: op.method, headers, body: JSON.stringify(op.body)});
		await response.arrayBuffer();
	}
}));
process.stdout.write(String(performance.now() - started));
`;

function runCli(args, token) {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [cli, 'run', ...args], {env: {...process.env, BENCH_TOKEN: token}, stdio: ['ignore', 'pipe', 'inherit']});
		let stdout = '';
		child.stdout.setEncoding('utf8').on('data', chunk => {
			stdout += chunk;
		});
		child.on('error', reject);
		child.on('close', code => {
			resolve({code, stdout});
		});
	});
}

const directory = await mkdtemp(join(tmpdir(), 'writelane-bench-batch-'));
const server = await testing.startLwwServer({objects, latency: [min, max]});
try {
	const ops = operations(server.objectIds);
	const file = join(directory, 'ops.ndjson');
	await writeFile(file, `${ops.map(op => JSON.stringify(op)).join('\n')}\n`);
	const args = [file, '--base-url', server.url, '--token-env', 'BENCH_TOKEN', '--preset', 'capacities', '--concurrency', values.concurrency, '--json'];
	if (!values['no-journal']) {
		args.push('--journal', join(directory, 'ops.journal'));
	}

	const started = performance.now();
	const {code, stdout} = await runCli(args, server.token);
	const wall = performance.now() - started;
	const summary = stdout
		.split('\n')
		.filter(line => line.startsWith('{"type":"summary"'))
		.map(line => JSON.parse(line))[0];
	const report = server.report();

	// The reference: the same operations one after another.
	const reference = await testing.startLwwServer({objects, latency: 0});
	for (const op of ops) {
		const response = await fetch(reference.url + op.path, {method: op.method, headers: {authorization: `Bearer ${reference.token}`, 'content-type': 'application/json'}, body: JSON.stringify(op.body)});
		await response.arrayBuffer();
	}

	const matches = isDeepStrictEqual(server.contents(), reference.contents());
	await reference.close();

	// The ceiling: the same file sent with plain fetch by as many workers as the concurrency, from a
	// process of its own like the CLI's, without lanes (writes to one object may overlap and lose
	// updates): what the server and the machine allow.
	const unguarded = await testing.startLwwServer({objects, latency: [min, max]});
	const plainMs = await new Promise((resolve, reject) => {
		const child = spawn(process.execPath, ['--input-type=module', '-e', plainFetch, file, unguarded.url, values.concurrency], {env: {...process.env, BENCH_TOKEN: unguarded.token}, stdio: ['ignore', 'pipe', 'inherit']});
		let output = '';
		child.stdout.setEncoding('utf8').on('data', chunk => {
			output += chunk;
		});
		child.on('error', reject);
		child.on('close', code => (code === 0 ? resolve(Number(output)) : reject(new Error(`the plain-fetch run exited with ${code}`))));
	});
	const plainOverlaps = unguarded.report().overlaps;
	const plainMatches = isDeepStrictEqual(unguarded.contents(), server.contents());
	await unguarded.close();

	const lines = [
		`writelane run: ${count.toLocaleString('en-US')} operations over ${objects} objects, concurrency ${values.concurrency}, server latency ${min}-${max} ms, journal ${values['no-journal'] ? 'off' : 'on (fdatasync per acknowledged operation)'}`,
		`exit code              ${code}`,
		`done / failed / skipped ${summary?.done} / ${summary?.failed} / ${summary?.skipped}`,
		`requests at the server ${report.total.toLocaleString('en-US')} (overlapping writes: ${report.overlaps})`,
		`batch time             ${Math.round(summary?.elapsedMs ?? 0).toLocaleString('en-US')} ms (process wall time ${Math.round(wall).toLocaleString('en-US')} ms, including the file check)`,
		`throughput             ${Math.round((count * 1000) / (summary?.elapsedMs ?? 1)).toLocaleString('en-US')} operations/s`,
		`critical path          ${Math.round(summary?.criticalPath.ms ?? 0).toLocaleString('en-US')} ms (${summary?.criticalPath.by})`,
		`efficiency             ${Math.round((summary?.efficiency ?? 0) * 1000) / 10}%`,
		`final state            ${matches ? 'matches the sequential run' : 'DIFFERS from the sequential run'}`,
		`plain fetch, ${values.concurrency} workers in a process of their own: ${Math.round(plainMs).toLocaleString('en-US')} ms (${Math.round((count * 1000) / plainMs).toLocaleString('en-US')} operations/s; overlapping writes: ${plainOverlaps}; final state ${plainMatches ? 'matches' : 'differs'})`,
		`load average           ${loadavg().map(load => load.toFixed(1)).join(' ')}`,
	];
	console.log(lines.join('\n'));
	if (values.check && !(code === 0 && matches && report.overlaps === 0 && summary?.done === count)) {
		process.exitCode = 1;
	}
} finally {
	await server.close();
	await rm(directory, {recursive: true, force: true});
}
