// Soak under faults: many operations through one lanes instance against the reference server with
// injected faults, then a check that nothing acknowledged was lost, no writes overlapped, every lane
// drained and the heap stayed flat. `npm run soak -- --help` for the options.
import {fork} from 'node:child_process';
import {writeFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {getHeapSpaceStatistics} from 'node:v8';
import {capacities, createLanes} from '../dist/index.js';
import {ACKED, ANSWERED, APPEND, kindNames, Ledger, marker, READ, REJECTED, UPDATE, WRITE} from './soak-ledger.js';
import {seeded} from './common.js';

const help = `Usage
  npm run soak -- [options]
  node --expose-gc --unhandled-rejections=strict bench/soak.js [options]   (after npm run build)

Options
  --operations <n>     Operations in all: reads, writes, update()s, block appends (default 20000)
  --resources <n>      Objects they spread over; a tenth of them get half the traffic (default 200)
  --callers <n>        Concurrent callers, each awaiting one operation at a time (default 128)
  --fault-rate <r>     Share of faults, spread evenly over 500, 503, 429, reset before the write is
                       applied, reset after, slow answer and caller timeout (default 0.1)
  --retry-after <s>    Retry-After of the injected 429s, whole seconds (default 1)
  --slow <ms>          Latency a slow answer adds (default 200)
  --grace <ms>         uncertain.graceMs of the lanes; keep it above latency + slow (default 1000)
  --max-heap-growth <bytes>  Allowed heap growth after GC from 25% to the end (default 1000000)
  --seed <n>           Seeds the server's faults and the mix of operations (default 1)
  --without-lanes      Send the same operations with plain fetch (update(): GET, then PATCH): shows
                       what the checks catch when nothing keeps the writes of an object in order
  --json <file>        Also save the figures as JSON
  -h, --help           Show this help

Exit code 0 when every check passes, 1 when one fails, 2 on bad usage.`;

const {values: args} = parseArgs({
	options: {
		operations: {type: 'string', default: '20000'},
		resources: {type: 'string', default: '200'},
		callers: {type: 'string', default: '128'},
		'fault-rate': {type: 'string', default: '0.1'},
		'retry-after': {type: 'string', default: '1'},
		slow: {type: 'string', default: '200'},
		grace: {type: 'string', default: '1000'},
		'max-heap-growth': {type: 'string', default: '1000000'},
		seed: {type: 'string', default: '1'},
		json: {type: 'string'},
		'without-lanes': {type: 'boolean', default: false},
		help: {type: 'boolean', short: 'h'},
	},
});

function usage(message) {
	console.error(`${message}\n\n${help}`);
	process.exit(2);
}

function number(option, {integer = true, min = 0, max = Number.MAX_SAFE_INTEGER} = {}) {
	const text = args[option];
	const value = Number(text);
	if (text.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
		usage(`Expected \`--${option}\` to be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got \`${text}\``);
	}
	return value;
}

if (args.help) {
	console.log(help);
	process.exit(0);
}

const config = {
	operations: number('operations', {min: 1}),
	resources: number('resources', {min: 1, max: 65_535}),
	callers: number('callers', {min: 1}),
	faultRate: number('fault-rate', {integer: false, max: 1}),
	retryAfter: number('retry-after'),
	slow: number('slow'),
	grace: number('grace'),
	maxHeapGrowth: number('max-heap-growth'),
	seed: number('seed'),
};

const strict = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes('--unhandled-rejections=strict');
if (typeof globalThis.gc !== 'function' || !strict) {
	usage('Run the soak with `node --expose-gc --unhandled-rejections=strict` (`npm run soak` does).');
}

// --- The mix -------------------------------------------------------------------------------------

const latency = [1, 10];
const properties = 4;
const serverKinds = [500, 503, {retryAfter: config.retryAfter}, 'reset-before', 'reset-after', {slow: config.slow}];
// Seven kinds share the fault rate evenly: six on the server (per request), caller timeouts here (per operation).
const serverFaultRate = (config.faultRate * serverKinds.length) / (serverKinds.length + 1);
const callerTimeoutRate = config.faultRate / (serverKinds.length + 1);
const hot = Math.max(1, Math.round(config.resources / 10));

const random = seeded(config.seed);

function pick() {
	const resource = random() < 0.5 ? Math.floor(random() * hot) : Math.floor(random() * config.resources);
	const roll = random();
	const kind = roll < 0.35 ? READ : roll < 0.65 ? WRITE : roll < 0.85 ? UPDATE : APPEND;
	const property = Math.floor(random() * properties);
	// A caller timeout short enough to fire while queued, in flight, or during a retry's wait.
	const timeout = random() < callerTimeoutRate ? 1 + Math.floor(random() * 40) : undefined;
	return {resource, kind, property, timeout};
}

// --- The server ----------------------------------------------------------------------------------

const serverOptions = {objects: config.resources, latency, seed: config.seed, faults: {rate: serverFaultRate, kinds: serverKinds}};
const child = fork(fileURLToPath(new URL('soak-server.js', import.meta.url)), [JSON.stringify(serverOptions)], {
	execArgv: ['--unhandled-rejections=strict'],
	stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});

function reply(type) {
	return new Promise((resolve, reject) => {
		const onMessage = (message) => {
			if (message.type === type) {
				child.off('message', onMessage);
				child.off('exit', onExit);
				resolve(message);
			}
		};
		const onExit = (code) => {
			child.off('message', onMessage);
			reject(new Error(`The server process exited with code ${code}`));
		};
		child.on('message', onMessage);
		child.once('exit', onExit);
	});
}

const {url, token, objectIds} = await reply('ready');
const headers = {authorization: `Bearer ${token}`, 'content-type': 'application/json'};

// --- The run -------------------------------------------------------------------------------------

// The preset's block → object map is bounded (LRU); a small bound fills it in the first quarter, so
// it is exercised, evictions included, without its growth looking like a leak.
const lanes = createLanes({keys: capacities({blockOwners: 1000}), concurrency: 64, uncertain: {policy: 'settle', graceMs: config.grace}});
const ledger = new Ledger(config.operations, config.resources, properties);
const timeouts = {planned: 0, fired: 0};
let wrongReads = 0;

async function drain(response) {
	try {
		await response.arrayBuffer();
	} catch {
		// The caller's timeout may end the body; the status is what counts.
	}
}

const increment = (id) => (current) => ({id, properties: {counter: {type: 'number', number: current.properties.counter.number + 1}}});

/** `update()` without a lane: the read-modify-write every automation writes by hand. */
async function unguardedUpdate(id, signal) {
	const read = await fetch(`${url}/object?id=${id}`, {headers, signal});
	if (!read.ok) {
		await drain(read);
		throw Object.assign(new Error(`GET /object answered ${read.status}`), {name: 'HttpError'});
	}
	const body = JSON.stringify(increment(id)(await read.json()));
	const response = await fetch(`${url}/object`, {method: 'PATCH', headers, body, signal});
	return {response, written: response.ok};
}

function send(kind, id, n, property, signal) {
	const call = args['without-lanes'] ? fetch : lanes.fetch;
	switch (kind) {
		case READ: {
			return call(`${url}/object?id=${id}`, {headers, signal});
		}
		case WRITE: {
			const body = {id, properties: {[`w${property}`]: {type: 'text', text: marker(n)}}};
			return call(`${url}/object`, {method: 'PATCH', headers, body: JSON.stringify(body), signal});
		}
		case UPDATE: {
			return args['without-lanes']
				? unguardedUpdate(id, signal)
				: lanes.update(`${url}/object?id=${id}`, increment(id), {writeUrl: `${url}/object`, headers, signal});
		}
		default: {
			const body = {id, blocks: [{type: 'TextBlock', tokens: [{type: 'TextToken', text: marker(n), style: {}}]}]};
			return call(`${url}/blocks/append`, {method: 'POST', headers, body: JSON.stringify(body), signal});
		}
	}
}

const durations = new Float64Array(config.operations);

async function operate(n) {
	const {resource, kind, property, timeout} = pick();
	const begin = performance.now();
	ledger.plan(n, kind, resource, property);
	let signal;
	if (timeout !== undefined) {
		timeouts.planned++;
		signal = AbortSignal.timeout(timeout);
	}
	try {
		// Called in this turn: the operation number is its place in lane order.
		const result = await send(kind, objectIds[resource], n, property, signal);
		const response = kind === UPDATE ? result.response : result;
		const ok = kind === UPDATE ? result.written : response.ok;
		ledger.settle(n, ok ? ACKED : ANSWERED, ok ? '2xx' : String(response.status));
		if (kind === READ && response.ok) {
			const object = await response.json().catch(() => undefined);
			if (object !== undefined && object.id !== objectIds[resource]) {
				wrongReads++;
			}
		} else {
			await drain(response);
		}
	} catch (error) {
		ledger.settle(n, REJECTED, nameOf(error));
	} finally {
		durations[n] = performance.now() - begin;
		if (signal?.aborted) {
			timeouts.fired++;
		}
	}
}

/** `UncertainOutcomeError(TimeoutError)`: the name, and the cause's when there is one. */
function nameOf(error) {
	const name = error?.name ?? typeof error;
	const cause = error?.cause?.name;
	const detail = name === 'TypeError' ? ` ${error.message}` : '';
	return cause ? `${name}(${cause})${detail}` : `${name}${detail}`;
}

const drained = (stats) => stats.active === 0 && stats.queued === 0 && (stats.waitingForSlot ?? 0) === 0 && stats.lanes.length === 0;
let next = 0;

async function caller(end) {
	while (next < end) {
		await operate(next++);
	}
}

/**
 * Waits for `onIdle()` (at most 10 s), then checks that `stats()` is back to zero. Right after the
 * last operation settled a lane may still be held: `'settle'` tells a caller its uncertain outcome
 * at once and keeps the lane for the grace period.
 */
async function settle() {
	const before = lanes.stats();
	const started = performance.now();
	let timer;
	const idle = await Promise.race([
		lanes.onIdle().then(() => true),
		new Promise((resolve) => {
			timer = setTimeout(() => resolve(false), 10_000);
		}),
	]);
	clearTimeout(timer);
	const after = lanes.stats();
	return {before, after, idle, idleMs: performance.now() - started, ok: idle && drained(after)};
}

/**
 * heapUsed after full GCs. Between them the event loop turns, so FinalizationRegistry callbacks run:
 * undici keeps each finished Request's parent signal and its abort listener until then.
 */
async function heapAfterGc() {
	for (let round = 0; round < 3; round++) {
		globalThis.gc();
		await new Promise((resolve) => {
			setTimeout(resolve, 20);
		});
	}
	globalThis.gc();
	const code = getHeapSpaceStatistics().find((space) => space.space_name === 'code_space')?.space_used_size ?? 0;
	return {bytes: process.memoryUsage().heapUsed, code};
}

// Four quarters; after each, once its last operation settled, the lanes must be idle, and the heap is
// measured after GC with nothing in flight: what is left is what the run retained.
const heap = [];
const quarters = [];
const started = performance.now();
for (const share of [0.25, 0.5, 0.75, 1]) {
	const end = Math.round(config.operations * share);
	await Promise.all(Array.from({length: Math.min(config.callers, end - next)}, () => caller(end)));
	quarters.push(await settle());
	heap.push({at: `${share * 100}%`, ...(await heapAfterGc())});
}
const duration = performance.now() - started;
await lanes.close();
const afterClose = lanes.stats();

child.send({type: 'report'});
const {report, objects} = await reply('report');
child.send({type: 'close'});
await new Promise((resolve) => {
	child.once('exit', resolve);
});

const check = ledger.check(objectIds, objects);
const base = heap[0].bytes;
const peak = heap.reduce((top, entry) => (entry.bytes > top.bytes ? entry : top));
const heapGrowth = peak.bytes - base;
// Compiled code grows while the JIT meets rarer paths (retries, resets, timeouts): not a leak, but shown.
const codeGrowth = peak.code - heap[0].code;
const expected = /^(2xx|\d{3}|UncertainOutcomeError\(\w+\)|TimeoutError|AbortError|HttpError|TypeError fetch failed|TypeError\(\w+\) fetch failed)$/;
const unexpected = [...ledger.byReason.keys()].filter((key) => !expected.test(key.split('\t')[1]));
const idleMs = Math.max(...quarters.map((quarter) => quarter.idleMs));

const checks = [
	['acknowledged writes all present', check.lostWrites + check.lostIncrements + check.lostAppends === 0],
	['acknowledged appends in lane order', check.appendsOutOfOrder === 0],
	['nothing applied twice', check.appliedTwice === 0 && check.extraIncrements === 0],
	['every operation settled', check.unsettled === 0],
	['reads answered with their own object', wrongReads === 0],
	['0 overlapping writes', report.overlaps === 0],
	['lanes drained: onIdle() resolved, stats() zero', quarters.every((quarter) => quarter.ok) && drained(afterClose)],
	['heap flat after GC', heapGrowth <= config.maxHeapGrowth],
	['no unexpected error', unexpected.length === 0],
	// Under --unhandled-rejections=strict one would have ended the process before this line.
	['no unhandled rejection', true],
];

// --- Report --------------------------------------------------------------------------------------

const int = new Intl.NumberFormat('en-US');
const sorted = durations.slice().sort();
const percentile = (share) => int.format(Math.round(sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]));
const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
const count = (kind) => ledger.kind.reduce((sum, value) => sum + (value === kind ? 1 : 0), 0);
const byKind = kindNames.map((name, kind) => `${name} ${int.format(count(kind))}`).join(', ');
const outcomes = [ACKED, ANSWERED, REJECTED].map((outcome) => ledger.outcome.reduce((sum, value) => sum + (value === outcome ? 1 : 0), 0));
const reasons = [...ledger.byReason.entries()]
	.filter(([key]) => !key.endsWith('\t2xx'))
	.sort((a, b) => b[1] - a[1])
	.map(([key, value]) => `${key.replace('\t', ' ')} ${int.format(value)}`);
const faults = Object.entries(report.faults).map(([kind, value]) => `${kind} ${int.format(value)}`);

const rows = [
	['operations', `${int.format(config.operations)} in ${(duration / 1000).toFixed(1)} s (${byKind})`],
	['resources, callers', `${config.resources} (${hot} hot, half the traffic), ${config.callers} callers, concurrency 64`],
	['time per operation', `median ${percentile(0.5)} ms, p99 ${percentile(0.99)} ms, max ${percentile(1)} ms (waiting for the lane included)`],
	['server requests', `${int.format(report.total)} (${Object.entries(report.requests).map(([method, value]) => `${method} ${int.format(value)}`).join(', ')})`],
	['faults injected', `${faults.join(', ')}, caller timeouts ${int.format(timeouts.planned)} (${int.format(timeouts.fired)} fired)`],
	['outcomes', `2xx ${int.format(outcomes[0])}, other answers ${int.format(outcomes[1])}, rejected ${int.format(outcomes[2])}`],
	['not acknowledged', reasons.length === 0 ? '-' : reasons.slice(0, 6).join(', ') + (reasons.length > 6 ? `, … (${reasons.length - 6} more)` : '')],
	[
		'ledger',
		`acknowledged: ${int.format(check.acknowledged.write)} writes, ${int.format(check.acknowledged.update)} update()s, ${int.format(check.acknowledged.append)} appends; missing ${check.lostWrites + check.lostAppends}, increments lost ${check.lostIncrements}, extra ${check.extraIncrements}, out of order ${check.appendsOutOfOrder}, applied twice ${check.appliedTwice}`,
	],
	['overlapping writes', `${report.overlaps} (most writes of one object in flight at once: ${report.maxInFlight})`],
	[
		'lanes after each quarter',
		quarters.every((quarter) => quarter.ok)
			? `onIdle() resolved (slowest ${idleMs.toFixed(0)} ms after the last operation settled), then stats() zero`
			: quarters.map(({after, idle}) => `onIdle() ${idle ? 'resolved' : 'pending after 10 s'}, then active ${after.active}, queued ${after.queued}, lanes ${after.lanes.length}`).join('; '),
	],
	[
		'heap after GC',
		`${heap.map((entry) => `${entry.at} ${mb(entry.bytes)}`).join(', ')}; growth ${mb(heapGrowth)}, V8 code space ${mb(codeGrowth)} of it (limit ${mb(config.maxHeapGrowth)})`,
	],
];

const width = Math.max(...rows.map(([name]) => name.length));
console.log(
	`\nSoak: ${int.format(config.operations)} operations, ${Math.round(config.faultRate * 100)}% faults, seed ${config.seed}${args['without-lanes'] ? ', WITHOUT lanes (plain fetch)' : ''}\n`,
);
for (const [name, value] of rows) {
	console.log(`  ${name.padEnd(width)}  ${value}`);
}
console.log('');
const checkWidth = Math.max(...checks.map(([name]) => name.length));
for (const [name, ok] of checks) {
	console.log(`  ${name.padEnd(checkWidth)}  ${ok ? 'pass' : 'FAIL'}`);
}
for (const line of [...check.examples, ...unexpected.map((key) => `unexpected: ${key.replace('\t', ' ')}`)]) {
	console.log(`  ! ${line}`);
}
const passed = checks.every(([, ok]) => ok);
console.log(`\n${passed ? 'PASS' : 'FAIL'}`);

if (args.json) {
	writeFileSync(
		args.json,
		`${JSON.stringify(
			{
				config,
				passed,
				checks: Object.fromEntries(checks),
				durationMs: Math.round(duration),
				timePerOperationMs: {median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1)},
				operations: Object.fromEntries(kindNames.map((name, kind) => [name, count(kind)])),
				outcomes: {acknowledged: outcomes[0], answered: outcomes[1], rejected: outcomes[2]},
				reasons: Object.fromEntries(ledger.byReason),
				faults: report.faults,
				callerTimeouts: timeouts,
				requests: report.total,
				ledger: check,
				overlaps: report.overlaps,
				quarters: quarters.map(({before, after, idle, idleMs, ok}) => ({lastSettled: before, idle, idleMs, afterIdle: after, ok})),
				afterClose,
				heap,
				heapGrowth,
				codeGrowth,
				unexpected,
			},
			null,
			'\t',
		)}\n`,
	);
}

process.exitCode = passed ? 0 : 1;
