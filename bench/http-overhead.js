// HTTP overhead: `lanes.fetch` (the capacities() preset, default options) against plain fetch, in
// the same run, against a loopback server in its own process that answers at once.
// `node bench/http-overhead.js --help` for the options; bench/README.md for how to read the output.
import {fork} from 'node:child_process';
import {once} from 'node:events';
import {resolve as resolvePath} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {parseArgs} from 'node:util';
import {loadDist} from './common.js';

const help = `Usage
  node bench/http-overhead.js [options]      (after npm run build; npm run bench runs it)

Options
  --requests <n>   Requests per run (default 20000)
  --objects <n>    Objects they are spread over (default 1000)
  --workers <n>    Concurrent callers; no two ever have a request in flight on one object (default 64)
  --reps <n>       Runs per method and contender; the table shows medians (default 5)
  --only <name>    Only this contender ('fetch', 'lanes.fetch' or 'baseline'), e.g. under --cpu-prof
  --baseline <dir> Also run lanes.fetch of another build (its dist/ folder) in the same process,
                   as the contender 'baseline': how to compare two versions
  --method <m>     Only GET or PATCH
  --check          Exit with code 1 when a ratio exceeds the target
  -h, --help       Show this help`;

const {values: options} = parseArgs({
	options: {
		requests: {type: 'string', default: '20000'},
		objects: {type: 'string', default: '1000'},
		workers: {type: 'string', default: '64'},
		reps: {type: 'string', default: '5'},
		only: {type: 'string'},
		method: {type: 'string'},
		baseline: {type: 'string'},
		check: {type: 'boolean', default: false},
		help: {type: 'boolean', short: 'h', default: false},
	},
});
if (options.help) {
	console.log(help);
	process.exit(0);
}

const requests = Number(options.requests);
const objects = Number(options.objects);
const workers = Number(options.workers);
const reps = Number(options.reps);
const target = 1.1;
for (const [name, value] of Object.entries({requests, objects, workers, reps})) {
	if (!Number.isInteger(value) || value < 1) {
		console.error(`Expected \`--${name}\` to be an integer >= 1, got \`${options[name]}\``);
		process.exit(2);
	}
}

const {createLanes, capacities} = await loadDist();
// Another build, loaded beside this one: contenders in one process see the same machine state.
const baseline = options.baseline === undefined ? undefined : await loadBaseline(options.baseline);

async function loadBaseline(dir) {
	try {
		return await import(pathToFileURL(resolvePath(dir, 'index.js')).href);
	} catch {
		console.error(`Expected \`--baseline\` to be the dist/ folder of a built checkout (with index.js), got \`${dir}\``);
		process.exit(2);
	}
}
const server = fork(fileURLToPath(new URL('http-server.js', import.meta.url)), {stdio: ['ignore', 'pipe', 'inherit', 'ipc']});
const [port] = await once(server.stdout, 'data');
const origin = `http://127.0.0.1:${String(port).trim()}`;
const headers = {authorization: 'Bearer bench-token'};
const ids = Array.from({length: objects}, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);

const methods = {
	GET: (send, id) => send(`${origin}/object?id=${id}`, {headers}),
	PATCH: (send, id) => send(`${origin}/object`, {method: 'PATCH', headers: {...headers, 'content-type': 'application/json'}, body: JSON.stringify({id, title: 'renamed'})}),
};

const contenders = {
	fetch: () => ({send: (input, init) => globalThis.fetch(input, init), close: async () => {}}),
	'lanes.fetch': () => {
		const lanes = createLanes({keys: capacities()});
		return {send: lanes.fetch, close: () => lanes.close()};
	},
};
if (baseline !== undefined) {
	contenders.baseline = () => {
		const lanes = baseline.createLanes({keys: baseline.capacities()});
		return {send: lanes.fetch, close: () => lanes.close()};
	};
}

/** Milliseconds for `count` requests: worker `w` owns the objects `w`, `w + workers` …, one request at a time. */
async function run(contender, method, count) {
	const {send, close} = contenders[contender]();
	const request = methods[method];
	const started = performance.now();
	await Promise.all(
		Array.from({length: workers}, async (_, worker) => {
			const owned = ids.filter((_, index) => index % workers === worker);
			for (let index = worker, turn = 0; index < count; index += workers, turn++) {
				const response = await request(send, owned[turn % owned.length]);
				if (!response.ok) {
					throw new Error(`${method} answered ${response.status}`);
				}
				// What an API client does with an answer: parse it.
				await response.json();
			}
		}),
	);
	const elapsed = performance.now() - started;
	await close();
	return elapsed;
}

const median = values => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const names = Object.keys(contenders).filter(name => options.only === undefined || name === options.only);
const chosen = Object.keys(methods).filter(name => options.method === undefined || name === options.method.toUpperCase());
const rows = [];
let failed = false;
for (const method of chosen) {
	for (const name of names) {
		await run(name, method, Math.min(requests, 2000));
	}
	const times = Object.fromEntries(names.map(name => [name, []]));
	for (let rep = 0; rep < reps; rep++) {
		// Alternating the order spreads any drift of the machine over both contenders.
		for (const name of rep % 2 === 0 ? names : [...names].reverse()) {
			times[name].push(await run(name, method, requests));
		}
	}
	const plain = times.fetch === undefined ? undefined : median(times.fetch);
	for (const name of names) {
		const ms = median(times[name]);
		const ratio = plain === undefined ? undefined : ms / plain;
		if (name === 'lanes.fetch' && ratio !== undefined && ratio > target) {
			failed = true;
		}
		rows.push({method, name, ms, perSecond: (requests / ms) * 1000, ratio});
	}
}
server.kill();

console.log(`\nHTTP overhead: ${requests} requests over ${objects} objects, ${workers} workers, medians of ${reps} (target: lanes.fetch <= ${target} x fetch)\n`);
console.log('| method | contender | ms | requests/s | x fetch |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const row of rows) {
	console.log(`| ${row.method} | ${row.name} | ${row.ms.toFixed(0)} | ${row.perSecond.toFixed(0)} | ${row.ratio === undefined ? '' : row.ratio.toFixed(3)} |`);
}
if (options.check && failed) {
	process.exitCode = 1;
}
