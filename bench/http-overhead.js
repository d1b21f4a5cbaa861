// HTTP overhead: `lanes.fetch` (the capacities() preset, default options) against plain fetch, in
// the same run, against a loopback server in its own process that answers at once.
// `node bench/http-overhead.js --help` for the options; bench/README.md for how to read the output.
import {fork, spawn} from 'node:child_process';
import {once} from 'node:events';
import {readFile, rm} from 'node:fs/promises';
import {Session} from 'node:inspector/promises';
import {tmpdir} from 'node:os';
import {join, resolve as resolvePath} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {parseArgs} from 'node:util';
import {loadDist} from './common.js';

/** The two run sizes whose difference --instructions counts: the second less the first, per request. */
const instructionSpan = [4000, 12000];
/**
The warm-up of each process --instructions counts: long enough that V8 has settled which functions
it optimizes and inlines before the counted requests start. With the 2000 requests of a timed run,
optimizations that came later fell into one run of a pair and not the other, so a change of a few
lines could move a count by thousands of instructions per request, the compiler's work.
*/
const instructionWarmUp = 12000;

const help = `Usage
  node bench/http-overhead.js [options]      (after npm run build; npm run bench runs it)

Options
  --requests <n>   Requests per run (default 20000)
  --objects <n>    Objects they are spread over (default 1000)
  --workers <n>    Concurrent callers; no two ever have a request in flight on one object (default 64)
  --reps <n>       Repetitions per method, each running every contender once, back to back, in
                   rotating order; the table shows medians, the ratios of each repetition's own (default 9)
  --only <name>    Only this contender ('fetch', 'lanes.fetch', 'baseline', 'chain', 'lanes.write' or 'busy'), e.g. under --cpu-prof
  --baseline <dir> Also run lanes.fetch of another build (its dist/ folder) in the same process,
                   as the contender 'baseline': how to compare two versions
  --method <m>     Only GET or PATCH
  --anchors        Also run two floors of per-object serialization around the same fetch: 'chain' (a
                   promise chain per object id, kept in a Map) and 'lanes.write' (writelane's lanes,
                   keyed by the same id, without the HTTP pipeline): what part of lanes.fetch's
                   overhead any wrapper pays on this machine, and what part the lanes and the pipeline add
  --lanes <json>   Options for createLanes() of lanes.fetch and baseline, beside keys and fetch, as JSON
                   (e.g. '{"pacing":false}'): what one default costs, never the measurement of the
                   target (--check then ignores the ratio)
  --preset <json>  Options for their capacities() preset, as JSON (e.g. '{"blockOwners":false}')
  --busy <µs>      Also run 'busy': plain fetch after a busy wait of that many microseconds of the
                   client's time per request (on performance.now()). What a fixed amount of client
                   work costs in the ratio on this machine now: the rate at which writelane's
                   in-process cost (--instant) turns into its ratio over the network
  --instant        No server, no sockets: every contender's transport answers at once in-process
                   (what writelane's own work costs per request, without the network stack's noise)
  --allocations    Instead of times, the bytes each contender allocates per request (V8's sampling
                   heap profiler, counting what the garbage collector freed too): a figure a busy
                   machine does not move, and what sets how often the garbage collector runs
  --instructions   Instead of times, the machine instructions each contender executes per request,
                   counted by valgrind's cachegrind in processes of their own (V8's --predictable:
                   one thread, no timing-dependent compilation or collection), with the in-process
                   transport of --instant, as the difference between a run of ${instructionSpan[0]} and one of
                   ${instructionSpan[1]} requests after the same warm-up of ${instructionWarmUp}. The old generation starts at 4 GB,
                   so no major collection is counted (one every few hundred MB, it would add a step of
                   some 12,000 instructions per request to whichever run it falls in); scavenges are.
                   Two identical builds in one run (--baseline) count within 0.25 %; two builds that
                   differ by a few lines may differ by a thousand or two more than their code does,
                   since V8 then optimizes and inlines differently (and compiles synchronously under
                   --predictable, so its choices differ from a normal run's). Counts work, not time.
                   Needs valgrind
  --functions <n>  With --instructions: also where the instructions go, by callgrind instead of
                   cachegrind, with V8's perf map naming the code it generated: for each contender,
                   the n functions whose instructions per request differ most from plain fetch's
                   (its own, without what they call; builtins and the runtime by name). Slower
  --separate       Each run of a contender in a process of its own (the server stays shared), so that
                   no two contenders share what V8 learned or compiled: the ratio a process that
                   uses only one of them sees. Repetitions rotate as without it; each run warms up
                   first (a fresh process starts cold)
  --check          Exit with code 1 when a ratio exceeds the target
  -h, --help       Show this help`;

const {values: options} = parseArgs({
	options: {
		requests: {type: 'string', default: '20000'},
		objects: {type: 'string', default: '1000'},
		workers: {type: 'string', default: '64'},
		reps: {type: 'string', default: '9'},
		only: {type: 'string'},
		method: {type: 'string'},
		baseline: {type: 'string'},
		instant: {type: 'boolean', default: false},
		anchors: {type: 'boolean', default: false},
		busy: {type: 'string'},
		lanes: {type: 'string'},
		preset: {type: 'string'},
		allocations: {type: 'boolean', default: false},
		separate: {type: 'boolean', default: false},
		instructions: {type: 'boolean', default: false},
		functions: {type: 'string'},
		// Internal, for --separate and --instructions: the run of one contender in this process, against a server at --origin (or --instant).
		run: {type: 'string'},
		origin: {type: 'string'},
		'warm-up': {type: 'string'},
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
/** Requests of the warm-up run before anything is measured (a process --instructions starts is told its own). */
const warmUp = options['warm-up'] === undefined ? Math.min(requests, 2000) : Number(options['warm-up']);
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
/** `--lanes` and `--preset`: a JSON object, or exit with a message naming the option. */
function jsonOption(name) {
	const text = options[name];
	if (text === undefined) {
		return {};
	}
	let value;
	try {
		value = JSON.parse(text);
	} catch {
		value = undefined;
	}
	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		console.error(`Expected \`--${name}\` to be a JSON object, got \`${text}\``);
		process.exit(2);
	}
	return value;
}
const lanesOptions = jsonOption('lanes');
const presetOptions = jsonOption('preset');
const busy = options.busy === undefined ? undefined : Number(options.busy);
if (busy !== undefined && !(Number.isFinite(busy) && busy > 0)) {
	console.error(`Expected \`--busy\` to be a number of microseconds > 0, got \`${options.busy}\``);
	process.exit(2);
}
const functionRows = options.functions === undefined ? 0 : Number(options.functions);
if (options.functions !== undefined && !(options.instructions && Number.isInteger(functionRows) && functionRows >= 1)) {
	console.error(`Expected \`--functions\` to be an integer >= 1, with \`--instructions\`, got \`${options.functions}\`${options.instructions ? '' : ' without --instructions'}`);
	process.exit(2);
}
/** With --functions: the tables of `functionTable()`, printed after the instruction table. */
const byFunctionTables = [];
if (options.instructions && (options.separate || options.allocations || busy !== undefined)) {
	console.error('Expected `--instructions` without `--separate`, `--allocations` or `--busy`: it counts in processes of its own, and a busy wait has no fixed count');
	process.exit(2);
}
/** No server: the contenders' transport answers in-process (`--instant`, and always with `--instructions`). */
const inProcess = options.instant || options.instructions;
/** `lanes.fetch` with the default options, the ones the target is about (no `--lanes`, no `--preset`). */
const defaults = options.lanes === undefined && options.preset === undefined;
if (options.separate && options.allocations) {
	console.error('Expected `--separate` without `--allocations`: allocations are counted in one process');
	process.exit(2);
}
const server = inProcess || options.run !== undefined ? undefined : fork(fileURLToPath(new URL('http-server.js', import.meta.url)), {stdio: ['ignore', 'pipe', 'inherit', 'ipc']});
const origin = options.origin ?? (server === undefined ? 'http://127.0.0.1:9' : `http://127.0.0.1:${String((await once(server.stdout, 'data'))[0]).trim()}`);
const headers = {authorization: 'Bearer bench-token'};
const ids = Array.from({length: objects}, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);

const methods = {
	GET: (send, id) => send(`${origin}/object?id=${id}`, {headers}),
	PATCH: (send, id) => send(`${origin}/object`, {method: 'PATCH', headers: {...headers, 'content-type': 'application/json'}, body: JSON.stringify({id, title: 'renamed'})}),
};

// With --instant: what the loopback server answers, made in-process at once (the same bodies and headers).
const object = JSON.stringify({id: ids[0], structureId: 'page', title: `Object ${ids[0]}`, properties: {}, blocks: []});
const instant = async (_input, init) => new Response(init?.method === 'PATCH' ? '{"ok":true}' : object, {headers: {'content-type': 'application/json'}});
const transport = inProcess ? instant : (input, init) => globalThis.fetch(input, init);

const contenders = {
	fetch: () => ({send: transport, close: async () => {}}),
	'lanes.fetch': () => {
		const lanes = createLanes({...lanesOptions, keys: capacities(presetOptions), fetch: transport});
		return {send: lanes.fetch, close: () => lanes.close()};
	},
};
// `--only chain` and `--only lanes.write` need no `--anchors` beside them.
if (options.anchors || options.only === 'chain' || options.only === 'lanes.write') {
	// The object a request is about, as the preset finds it: the body's `id` (PATCH) or the `id` query parameter (GET).
	const idOf = (input, init) => (init?.body === undefined ? new URL(input).searchParams.get('id') : JSON.parse(init.body).id);
	contenders.chain = () => {
		const tails = new Map();
		const send = (input, init) => {
			const key = `objects/${idOf(input, init)}`;
			const previous = tails.get(key);
			const sent = previous === undefined ? transport(input, init) : previous.then(() => transport(input, init));
			const tail = sent.then(
				() => undefined,
				() => undefined,
			);
			tails.set(key, tail);
			tail.then(() => {
				if (tails.get(key) === tail) {
					tails.delete(key);
				}
			});
			return sent;
		};

		return {send, close: async () => {}};
	};

	contenders['lanes.write'] = () => {
		const lanes = createLanes({fetch: transport});
		return {send: (input, init) => lanes.write(`objects/${idOf(input, init)}`, () => transport(input, init)), close: () => lanes.close()};
	};
}

if (busy !== undefined) {
	contenders.busy = () => ({
		send: (input, init) => {
			const until = performance.now() + busy / 1000;
			while (performance.now() < until) {
				// Busy: the client's own work, as a wrapper's would be.
			}
			return transport(input, init);
		},
		close: async () => {},
	});
}

if (baseline !== undefined) {
	contenders.baseline = () => {
		const lanes = baseline.createLanes({...lanesOptions, keys: baseline.capacities(presetOptions), fetch: transport});
		return {send: lanes.fetch, close: () => lanes.close()};
	};
}

/** Milliseconds for `count` requests through `send`: worker `w` owns the objects `w`, `w + workers` …, one request at a time. */
async function timed(send, method, count) {
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
	return performance.now() - started;
}

/**
Bytes allocated per request for `count` requests through `send`: every allocation V8's sampling heap
profiler sees (one sample per 128 bytes on average), including what was freed before the end.
*/
async function allocated(send, method, count) {
	const session = new Session();
	session.connect();
	await session.post('HeapProfiler.enable');
	await session.post('HeapProfiler.startSampling', {samplingInterval: 128, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true});
	await timed(send, method, count);
	const {profile} = await session.post('HeapProfiler.stopSampling');
	session.disconnect();
	let bytes = 0;
	const pending = [profile.head];
	while (pending.length > 0) {
		const node = pending.pop();
		bytes += node.selfSize;
		pending.push(...node.children);
	}
	return bytes / count;
}

/**
One repetition: `count` requests from each contender, one after the other (in `order`), each with an
instance of its own. Milliseconds per contender (with --allocations: bytes allocated per request).
*/
async function repetition(method, count, order) {
	const elapsed = {};
	for (const name of order) {
		if (options.separate) {
			elapsed[name] = await runAlone(name, method, count);
			continue;
		}
		const {send, close} = contenders[name]();
		elapsed[name] = options.allocations ? await allocated(send, method, count) : await timed(send, method, count);
		await close();
	}
	return elapsed;
}

/** The arguments of a process that runs only contender `name` (`--run`): `count` requests of `method` after a warm-up. */
function runArgs(name, method, count) {
	const args = ['--run', name, '--method', method, '--requests', String(count), '--objects', String(objects), '--workers', String(workers)];
	args.push(...(inProcess ? ['--instant'] : ['--origin', origin]));
	if (options.baseline !== undefined) {
		args.push('--baseline', options.baseline);
	}
	if (options.anchors) {
		args.push('--anchors');
	}
	if (busy !== undefined) {
		args.push('--busy', String(busy));
	}
	if (options.lanes !== undefined) {
		args.push('--lanes', options.lanes);
	}
	if (options.preset !== undefined) {
		args.push('--preset', options.preset);
	}
	return args;
}

/** With --separate: milliseconds for `count` requests of contender `name`, run in a process of its own after a warm-up. */
async function runAlone(name, method, count) {
	const child = fork(fileURLToPath(import.meta.url), runArgs(name, method, count), {stdio: ['ignore', 'pipe', 'inherit', 'ipc']});
	let output = '';
	child.stdout.on('data', chunk => {
		output += chunk;
	});
	const [code] = await once(child, 'exit');
	if (code !== 0) {
		throw new Error(`The run of ${name} in its own process exited with code ${code}`);
	}
	return JSON.parse(output).ms;
}

/**
With --instructions: the instructions a process running `count` requests of contender `name` executes
in all, counted by cachegrind; with --functions, by callgrind, with `functions`: the instructions of
each function (JavaScript functions by the names and places V8 writes to its perf map, the rest by
their symbols), each function's own, without those of what it calls.
*/
async function underValgrind(name, method, count) {
	const out = options.functions ? join(tmpdir(), `writelane-callgrind-${process.pid}-${name}-${method}-${count}.out`) : '/dev/null';
	const tool = options.functions ? ['--tool=callgrind', '--dump-instr=yes', '--dump-line=no', '--compress-strings=no', '--compress-pos=no', `--callgrind-out-file=${out}`] : ['--tool=cachegrind', '--cache-sim=no', `--cachegrind-out-file=${out}`];
	// An old generation that starts far larger than these runs fill: no major collection falls in either run (see the help).
	const node = [process.execPath, ...(options.functions ? ['--perf-basic-prof'] : []), '--predictable', '--max-old-space-size=8192', '--initial-old-space-size=4096'];
	const args = [...tool, ...node, fileURLToPath(import.meta.url), ...runArgs(name, method, count), '--warm-up', String(instructionWarmUp)];
	const child = spawn('valgrind', args, {stdio: ['ignore', 'ignore', 'pipe']});
	let errors = '';
	child.stderr.on('data', chunk => {
		errors += chunk;
	});
	const [code] = await Promise.race([once(child, 'exit'), once(child, 'error').then(([error]) => Promise.reject(error))]).catch(error => {
		console.error(error.code === 'ENOENT' ? 'Expected valgrind on the PATH for `--instructions` (Debian: apt-get install valgrind)' : `valgrind failed: ${error.message}`);
		process.exit(2);
	});
	const counted = /I\s+refs:\s+([\d,]+)/.exec(errors);
	if (code !== 0 || counted === null) {
		throw new Error(`The run of ${name} under valgrind exited with code ${code}:\n${errors}`);
	}
	const total = Number(counted[1].replaceAll(',', ''));
	if (!options.functions) {
		return {total};
	}
	// V8 writes the perf map of the process valgrind ran (valgrind runs node in its own process).
	const perfMap = `/tmp/perf-${child.pid}.map`;
	try {
		return {total, functions: byFunction(await readFile(out, 'utf8'), await readFile(perfMap, 'utf8'))};
	} finally {
		await Promise.all([rm(out, {force: true}), rm(perfMap, {force: true})]);
	}
}

/**
With --functions: the instructions of each function in a callgrind output of one run (`--dump-instr`, no
compression), the code V8 generated named by its perf map. A function's tier (`*` optimized, `^`
baseline, `~` interpreted) is left out of its name, and so is the project's folder.
*/
function byFunction(callgrindOut, perfMap) {
	const ranges = perfMap
		.split('\n')
		.filter(line => line !== '')
		.map(line => {
			const [start, size, ...rest] = line.split(' ');
			return {start: Number.parseInt(start, 16), end: Number.parseInt(start, 16) + Number.parseInt(size, 16), name: rest.join(' ').replace(/^JS:[*^~+-]?/, 'JS:').replace(projectUrl, '')};
		})
		.sort((a, b) => a.start - b.start);
	const nameAt = address => {
		let low = 0;
		let high = ranges.length - 1;
		while (low <= high) {
			const middle = (low + high) >> 1;
			if (ranges[middle].start <= address) {
				low = middle + 1;
			} else {
				high = middle - 1;
			}
		}
		const range = ranges[high];
		return range !== undefined && address < range.end ? range.name : undefined;
	};
	const counts = new Map();
	let fn = '?';
	let skip = false;
	for (const line of callgrindOut.split('\n')) {
		if (skip) {
			// The inclusive cost of the call named on the line before: counted where it is spent.
			skip = false;
		} else if (line.startsWith('calls=')) {
			skip = true;
		} else if (line.startsWith('fn=')) {
			fn = line.slice(3);
		} else if (line.startsWith('0x')) {
			const space = line.indexOf(' ');
			const name = nameAt(Number.parseInt(line.slice(2, space), 16)) ?? fn;
			counts.set(name, (counts.get(name) ?? 0) + Number(line.slice(space + 1)));
		}
	}
	return counts;
}
const projectUrl = pathToFileURL(resolvePath(fileURLToPath(import.meta.url), '../..')).href + '/';

/**
With --instructions: the instructions per request of contender `name`, from the two run sizes of
`instructionSpan` (run side by side); with --functions, also those of each function.
*/
async function instructionsPerRequest(name, method) {
	const [small, large] = await Promise.all(instructionSpan.map(count => underValgrind(name, method, count)));
	const span = instructionSpan[1] - instructionSpan[0];
	if (!options.functions) {
		return {perRequest: (large.total - small.total) / span};
	}
	const functions = new Map();
	for (const key of new Set([...small.functions.keys(), ...large.functions.keys()])) {
		functions.set(key, ((large.functions.get(key) ?? 0) - (small.functions.get(key) ?? 0)) / span);
	}
	return {perRequest: (large.total - small.total) / span, functions};
}

// The run of one contender for --separate or --instructions, in the process the parent started: a warm-up, then the timed run.
if (options.run !== undefined) {
	if (contenders[options.run] === undefined) {
		console.error(`Expected \`--run\` to name a contender (${Object.keys(contenders).join(', ')}), got \`${options.run}\``);
		process.exit(2);
	}
	const method = options.method.toUpperCase();
	await repetition(method, warmUp, [options.run]);
	const {[options.run]: ms} = await repetition(method, requests, [options.run]);
	console.log(JSON.stringify({ms}));
	process.exit(0);
}

const median = values => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
/** The first and third quartiles (nearest rank): where the middle half of the repetitions' ratios lie. */
const quartiles = values => {
	const sorted = [...values].sort((a, b) => a - b);
	return [sorted[Math.floor((sorted.length - 1) / 4)], sorted[Math.ceil(((sorted.length - 1) * 3) / 4)]];
};
/**
The order of repetition `rep`: the contenders rotated by one place every second repetition, and
reversed in every odd one (A B C, C B A, B C A, A C B, C A B, B A C for three). Drift of the machine
is spread over the contenders, each runs in every place as often as the others, and the run right
after plain fetch, which may pay for collecting fetch's garbage, is not always the same contender's
(with two or three contenders, each follows every other one equally often).
*/
function orderOf(rep) {
	const shift = Math.floor(rep / 2) % names.length;
	const rotated = [...names.slice(shift), ...names.slice(0, shift)];
	return rep % 2 === 0 ? rotated : rotated.reverse();
}

/** A warm-up, then `reps` repetitions of `method` (each contender once per repetition). */
async function repetitions(method) {
	// Warm-up: every code path compiled before anything is measured (with --separate, each process warms up itself).
	if (!options.separate) {
		await repetition(method, warmUp, names);
	}
	const runs = [];
	for (let rep = 0; rep < reps; rep++) {
		runs.push(await repetition(method, requests, orderOf(rep)));
	}
	return runs;
}
const names = Object.keys(contenders).filter(name => options.only === undefined || name === options.only);
if (names.length === 0) {
	console.error(`Expected \`--only\` to name a contender of this run (${Object.keys(contenders).join(', ')}), got \`${options.only}\``);
	process.exit(2);
}
const chosen = Object.keys(methods).filter(name => options.method === undefined || name === options.method.toUpperCase());
// What the contenders' requests go to, for the title of either table.
const changed = [options.lanes === undefined ? '' : ` --lanes ${options.lanes}`, options.preset === undefined ? '' : ` --preset ${options.preset}`].join('');
const over = `${inProcess ? 'a transport that answers at once in-process (no sockets)' : 'a loopback server'}${defaults ? '' : `, lanes.fetch with${changed}`}`;
const rows = [];
let failed = false;
if (options.allocations) {
	await allocations();
	process.exit(0);
}
if (options.instructions) {
	await instructions();
	process.exit(0);
}
for (const method of chosen) {
	const runs = await repetitions(method);
	for (const name of names) {
		const ms = median(runs.map(run => run[name]));
		// Each repetition's own ratio (its contenders ran back to back), then their median: a slow
		// spell of the machine moves one repetition, not the comparison.
		const ratios = names.includes('fetch') ? runs.map(run => run[name] / run.fetch) : undefined;
		const ratio = ratios === undefined ? undefined : median(ratios);
		if (name === 'lanes.fetch' && ratio !== undefined && ratio > target) {
			failed = true;
		}
		const added = ratio === undefined ? undefined : median(runs.map(run => ((run[name] - run.fetch) * 1000) / requests));
		const spread = ratios === undefined ? undefined : quartiles(ratios);
		rows.push({method, name, ms, perSecond: (requests / ms) * 1000, ratio, spread, added});
	}
}
server?.kill();

/** The --allocations run: medians of the bytes per request, and what each contender adds to plain fetch's. */
async function allocations() {
	const table = [];
	for (const method of chosen) {
		const runs = await repetitions(method);
		for (const name of names) {
			const bytes = median(runs.map(run => run[name]));
			const added = names.includes('fetch') && name !== 'fetch' ? median(runs.map(run => run[name] - run.fetch)) : undefined;
			table.push(`| ${method} | ${name} | ${bytes.toFixed(0)} | ${added === undefined ? '' : added.toFixed(0)} |`);
		}
	}
	server?.kill();
	console.log(`\nHTTP allocations: ${requests} requests over ${objects} objects, ${workers} workers, ${over}, medians of ${reps} repetitions\n`);
	console.log('| method | contender | bytes allocated per request | bytes added per request |');
	console.log('| --- | --- | ---: | ---: |');
	console.log(table.join('\n'));
}

/** The --instructions run: instructions per request of each contender, and what each adds to plain fetch's. */
async function instructions() {
	const table = [];
	for (const method of chosen) {
		const counts = {};
		const functions = {};
		for (const name of names) {
			({perRequest: counts[name], functions: functions[name]} = await instructionsPerRequest(name, method));
		}
		if (options.functions) {
			byFunctionTables.push(functionTable(method, functions));
		}
		for (const name of names) {
			const added = counts.fetch === undefined || name === 'fetch' ? '' : (counts[name] - counts.fetch).toFixed(0);
			const ratio = counts.fetch === undefined ? '' : (counts[name] / counts.fetch).toFixed(3);
			table.push(`| ${method} | ${name} | ${counts[name].toFixed(0)} | ${ratio} | ${added} |`);
		}
	}
	console.log(`\nHTTP instructions: ${instructionSpan[1]} less ${instructionSpan[0]} requests over ${objects} objects, ${workers} workers, ${over}, counted by ${options.functions ? 'callgrind' : 'cachegrind'}\n`);
	console.log('| method | contender | instructions per request | x fetch | instructions added per request |');
	console.log('| --- | --- | ---: | ---: | ---: |');
	console.log(table.join('\n'));
	for (const text of byFunctionTables) {
		console.log(text);
	}
}

/**
With --functions: for each contender but plain fetch, the functions whose instructions per request
differ most from plain fetch's (a contender's own work, and what it makes the platform do more or less
of); with only one contender, that contender's costliest functions.
*/
function functionTable(method, functions) {
	const others = names.filter(name => name !== 'fetch');
	const compared = functions.fetch !== undefined && others.length > 0;
	const lines = [];
	for (const name of compared ? others : names) {
		const own = functions[name];
		const base = compared ? functions.fetch : new Map();
		const rows = [...new Set([...own.keys(), ...base.keys()])]
			.map(key => [key, (own.get(key) ?? 0) - (base.get(key) ?? 0)])
			.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
			.slice(0, functionRows);
		lines.push(
			`\n${method}, ${name}: the ${functionRows} functions ${compared ? 'whose instructions per request differ most from plain fetch' : 'with the most instructions per request'}\n`,
			`| function | ${compared ? 'instructions added per request' : 'instructions per request'} |`,
			'| --- | ---: |',
			...rows.map(([key, value]) => `| ${key.replaceAll('|', '\\|')} | ${value.toFixed(0)} |`),
		);
	}
	return lines.join('\n');
}

console.log(`\nHTTP overhead: ${requests} requests over ${objects} objects, ${workers} workers, ${over}, medians of ${reps} repetitions${options.separate ? ', each run in a process of its own' : ''} (target: lanes.fetch <= ${target} x fetch)\n`);
console.log('| method | contender | ms | requests/s | x fetch | middle half of the ratios | µs added per request |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
	const ratio = row.ratio === undefined ? '' : row.ratio.toFixed(3);
	const spread = row.spread === undefined || row.name === 'fetch' ? '' : `${row.spread[0].toFixed(3)}–${row.spread[1].toFixed(3)}`;
	const added = row.added === undefined || row.name === 'fetch' ? '' : row.added.toFixed(1);
	console.log(`| ${row.method} | ${row.name} | ${row.ms.toFixed(0)} | ${row.perSecond.toFixed(0)} | ${ratio} | ${spread} | ${added} |`);
}
// The target is about the network path; in-process, the ratio only says how cheap the transport is.
if (options.check && failed && !options.instant && defaults) {
	process.exitCode = 1;
}
