// Pacing: how close a write batch gets to the quota bound, and with how many 429s, against real
// limiter algorithms announcing their quota in each generation of rate-limit header fields.
// `npm run bench:pacing` (also run by `npm run bench`); alone: `node bench/pacing.js [--quick]
// [--check] [--json file] [--limit 10] [--window 2000] [--requests 30] [--objects 5] [--latency 5]`.
//
// Each run: a fresh server (bench/limiter-server.js) allowing `limit` requests per `window` ms per
// endpoint, and a fresh `createLanes({keys: capacities()})` sending `requests` PATCH /object writes over
// `objects` objects, all at once, through `lanes.fetch` or a ky instance from `lanes.wrapKy()`.
//
// The quota bound is what no client can beat: the last request cannot start before the window that
// admits it opens. Fixed and sliding windows admit `limit` at 0, `window`, 2 × `window` …, so the
// bound is floor((requests - 1) / limit) × window; a token bucket starting full refills one unit every
// window / limit, so its bound is (requests - limit) × window / limit. Makespan is from the first call
// to the last answer. Targets (single client): 0 × 429, and makespan ≤ 1.05 × the bound in the draft
// generations; with `X-RateLimit-Reset` in Unix seconds, the rounding of the reset to a whole second
// may cost up to 1 s more per window waited.

import {loadavg} from 'node:os';
import {performance} from 'node:perf_hooks';
import {parseArgs} from 'node:util';
import {loadDist} from './common.js';
import ky from 'ky';
import {algorithms, generations, startLimiterServer} from './limiter-server.js';

const {values} = parseArgs({
	options: {
		quick: {type: 'boolean'},
		check: {type: 'boolean'},
		json: {type: 'string'},
		limit: {type: 'string'},
		window: {type: 'string'},
		requests: {type: 'string'},
		objects: {type: 'string'},
		latency: {type: 'string'},
	},
});

const {capacities, createLanes} = await loadDist('index.js', {script: 'npm run bench:pacing'});

const integer = (value, fallback) => (value === undefined ? fallback : Number.parseInt(value, 10));
const limit = integer(values.limit, 10);
const windowMs = integer(values.window, 2000);
const requests = integer(values.requests, values.quick ? 20 : 30);
const objects = integer(values.objects, 5);
const latencyMs = integer(values.latency, 5);
const clients = ['lanes.fetch', 'wrapKy'];

function bound(algorithm, count) {
	return algorithm === 'token-bucket' ? (Math.max(0, count - limit) * windowMs) / limit : Math.floor((count - 1) / limit) * windowMs;
}

/** Windows a single client waits for: the ones after the first. */
function windowsWaited(count) {
	return Math.ceil(count / limit) - 1;
}

/** Sends `count` writes per endpoint over `objects` objects each, all at once; resolves to the statuses and the makespan. */
async function batch(server, pacing, client, endpoints = ['/object'], count = requests, spread = objects) {
	const lanes = createLanes({keys: capacities(), pacing, retry: {limit: 10}});
	const headers = {authorization: `Bearer ${server.token}`};
	const api = client === 'wrapKy' ? lanes.wrapKy(ky.create({retry: 0, throwHttpErrors: false, headers})) : undefined;
	const send = (path, json) =>
		api
			? api.patch(`${server.url}${path}`, {json})
			: lanes.fetch(`${server.url}${path}`, {method: 'PATCH', headers: {...headers, 'content-type': 'application/json'}, body: JSON.stringify(json)});
	const started = performance.now();
	const calls = [];
	for (const [which, path] of endpoints.entries()) {
		for (let seq = 0; seq < count; seq++) {
			calls.push(send(path, {id: `object-${which}-${seq % spread}`, client: 'a', seq}));
		}
	}

	const responses = await Promise.all(calls);
	const makespan = performance.now() - started;
	await lanes.close();
	return {statuses: responses.map(response => response.status), makespan};
}

function inOrder(server) {
	for (const writes of server.log.applied.values()) {
		const seqs = writes.map(write => Number(write.split(':')[1]));
		if (seqs.some((seq, index) => index > 0 && seq <= (seqs[index - 1] ?? -1))) {
			return false;
		}
	}

	return true;
}

const rows = [];
const failures = [];

async function measure({algorithm, generation, client, pacing = true, endpoints, label, spread}) {
	const server = await startLimiterServer({algorithm, generation, limit, windowMs, latencyMs});
	try {
		const {statuses, makespan} = await batch(server, pacing, client, endpoints, requests, spread);
		const quotaBound = bound(algorithm, requests);
		const sent = requests * (endpoints?.length ?? 1);
		const row = {
			algorithm,
			generation,
			client,
			label: label ?? '',
			requests: sent,
			ok: statuses.filter(status => status === 200).length,
			tooMany: server.log.tooMany,
			makespan: Math.round(makespan),
			bound: quotaBound,
			ratio: quotaBound > 0 ? makespan / quotaBound : Number.NaN,
			ordered: inOrder(server),
		};
		rows.push(row);
		return row;
	} finally {
		await server.close();
	}
}

const pad = (value, width) => String(value).padEnd(width);
const padStart = (value, width) => String(value).padStart(width);

function print(row, target) {
	console.log(
		[
			pad(row.algorithm, 15),
			pad(row.generation, 12),
			pad(row.client, 12),
			pad(row.label, 24),
			padStart(`${row.ok}/${row.requests}`, 6),
			padStart(row.tooMany, 5),
			padStart(row.makespan, 9),
			padStart(row.bound, 7),
			padStart(Number.isNaN(row.ratio) ? '-' : row.ratio.toFixed(3), 7),
			pad(target ?? '', 22),
		].join(' '),
	);
}

function header() {
	console.log(
		[pad('algorithm', 15), pad('headers', 12), pad('client', 12), pad('run', 24), padStart('ok', 6), padStart('429', 5), padStart('ms', 9), padStart('bound', 7), padStart('ratio', 7), 'target'].join(' '),
	);
}

// Warm-up (discarded): the first batch of a process pays for compiling the code paths.
for (const client of clients) {
	const server = await startLimiterServer({limit: 100, windowMs: 1000, latencyMs});
	await batch(server, true, client, ['/object'], 20);
	await server.close();
}

console.log(
	`Pacing: ${requests} PATCH /object over ${objects} objects, all at once; ${limit} per ${windowMs} ms per endpoint; ${latencyMs} ms server latency; Node ${process.version}; load average ${loadavg()[0].toFixed(1)}\n`,
);
header();
for (const algorithm of algorithms) {
	for (const generation of generations) {
		for (const client of clients) {
			const row = await measure({algorithm, generation, client});
			const legacy = generation === 'x-ratelimit';
			// Unix-seconds resets may cost their rounding on top: at most 1 s per window waited.
			const limitMs = row.bound * 1.05 + (legacy ? 1000 * windowsWaited(requests) : 0);
			const target = legacy ? `0 × 429, ≤ ${limitMs} ms` : '0 × 429, ≤ 1.05×';
			print(row, target);
			if (row.tooMany > 0 || row.makespan > limitMs || row.ok !== row.requests || !row.ordered) {
				failures.push(`${algorithm} ${generation} ${client}: ${row.tooMany} × 429, ${row.makespan} ms (target ${target})${row.ordered ? '' : ', out of order'}`);
			}
		}
	}
}

console.log('\nSeveral buckets at once: PATCH /object and PATCH /object/markdown, each its own quota and objects\n');
header();
for (const algorithm of algorithms) {
	const row = await measure({algorithm, generation: 'draft-7', client: 'lanes.fetch', endpoints: ['/object', '/object/markdown'], label: '2 endpoints'});
	print(row, '0 × 429, ≤ 1.05×');
	if (row.tooMany > 0 || row.makespan > row.bound * 1.05 || !row.ordered) {
		failures.push(`${algorithm} 2 endpoints: ${row.tooMany} × 429, ${row.makespan} ms`);
	}
}

console.log('\nCold start and modes (fixed window, draft-7, lanes.fetch): the default against the alternatives\n');
header();
for (const [label, pacing] of [
	['burst, probe (default)', true],
	['burst, no probe', {probe: false}],
	['spread, probe', {mode: 'spread'}],
	['no pacing', false],
]) {
	print(await measure({algorithm: 'fixed-window', generation: 'draft-7', client: 'lanes.fetch', pacing, label}));
}

console.log(`\nCold start with nothing holding requests back: ${requests} writes to ${requests} objects, all at once\n`);
header();
for (const [label, pacing] of [
	['burst, probe (default)', true],
	['burst, no probe', {probe: false}],
]) {
	print(await measure({algorithm: 'fixed-window', generation: 'draft-7', client: 'lanes.fetch', pacing, label, spread: requests}));
}

if (values.json) {
	const {writeFile} = await import('node:fs/promises');
	await writeFile(values.json, JSON.stringify({limit, windowMs, requests, objects, latencyMs, load: loadavg(), rows, failures}, null, '\t'));
}

if (failures.length > 0) {
	console.log(`\nTargets missed:\n- ${failures.join('\n- ')}`);
	if (values.check) {
		process.exitCode = 1;
	}
} else {
	console.log('\nEvery target met.');
}
