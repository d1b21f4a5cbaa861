import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import fc from 'fast-check';
import {afterEach, expect, test} from 'vitest';
import {type CliIo, parseLatency, parseRate} from '../src/cli/args.js';
import {
	criticalPath,
	type DemoResult,
	demoExitCode,
	planWorkload,
	runDemo,
	runWorkload,
} from '../src/cli/demo.js';
import {main, version} from '../src/cli/main.js';
import {runServe} from '../src/cli/serve.js';
import {createStyle} from '../src/cli/table.js';
import {renderTimeline} from '../src/cli/timeline.js';
import {type LwwLogEntry, type LwwServer, startLwwServer} from '../src/testing/index.js';

type Captured = {
	readonly io: CliIo;
	readonly stdout: () => string;
	readonly stderr: () => string;
};

function capture(extra: Partial<CliIo> = {}): Captured {
	const out: string[] = [];
	const error: string[] = [];
	return {
		io: {stdout: text => out.push(text), stderr: text => error.push(text), ...extra},
		stdout: () => out.join(''),
		stderr: () => error.join(''),
	};
}

const servers: LwwServer[] = [];
afterEach(async () => {
	await Promise.all(servers.splice(0).map(async server => server.close()));
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for ANSI escapes
const ansi = /\u001B\[/;

// Demo

test('writelane demo --json - writelane loses nothing and never overlaps; the plain fetch run reports what it lost', async () => {
	// Whether plain fetch loses an update here depends on how the runtime schedules six concurrent
	// requests; that it does when reads overlap is proven deterministically by the runWorkload() tests below.
	const {io, stdout, stderr} = capture();
	const code = await runDemo(['--json', '--automations', '6', '--edits', '1', '--objects', '1', '--latency', '10', '--seed', '3'], io);
	const result = JSON.parse(stdout()) as DemoResult;

	expect(stderr()).toBe('');
	expect(result.guarded.counter).toEqual({expected: 6, stored: 6, lost: 0});
	expect(result.guarded.blocks).toEqual({expected: 6, stored: 6, lost: 0});
	expect(result.guarded.overlaps).toBe(0);
	expect(result.guarded.maxInFlightPerObject).toBe(1);
	const {counter, blocks} = result.unguarded;
	expect(counter.expected).toBe(6);
	expect(counter.lost).toBe(counter.expected - counter.stored);
	expect(blocks.lost).toBe(blocks.expected - blocks.stored);
	expect(result.problemShown).toBe(counter.lost + blocks.lost > 0);
	expect(result.ok).toBe(true);
	expect(code).toBe(0);
});

test('writelane demo --json - the output has the documented shape', async () => {
	const {io, stdout} = capture();
	await runDemo(['--json', '--automations', '2', '--edits', '1', '--objects', '2', '--latency', '0-2', '--concurrency', '3'], io);
	const result = JSON.parse(stdout()) as Record<string, unknown>;
	const run = {
		requests: 10,
		requestsByMethod: {GET: 6, PATCH: 2, POST: 2},
		counter: {expected: 2, stored: expect.any(Number), lost: expect.any(Number)},
		blocks: {expected: 2, stored: expect.any(Number), lost: expect.any(Number)},
		overlaps: expect.any(Number),
		maxInFlightPerObject: expect.any(Number),
		wallMs: expect.any(Number),
	};

	expect(result).toEqual({
		options: {seed: 1, automations: 2, edits: 1, objects: 2, latency: [0, 2], concurrency: 3, readsPerEdit: 2},
		unguarded: run,
		guarded: {...run, criticalPathMs: expect.any(Number), efficiency: expect.any(Number)},
		problemShown: expect.any(Boolean),
		ok: true,
	});
});

test('runWorkload() - plain fetch loses an increment when two read-modify-writes read together', async () => {
	const server = await startLwwServer({objects: 1, latency: 1});
	servers.push(server);
	const plan = planWorkload({seed: 1, automations: 2, edits: 1, objects: 1, readsPerEdit: 0});
	const release = server.hold();
	const run = runWorkload(server, plan, {guarded: false});
	await server.whenInFlight(2);
	release();
	const result = await run;

	expect(result.counter).toEqual({expected: 2, stored: 1, lost: 1});
});

test('runWorkload() - writelane keeps the second read-modify-write out until the first is answered', async () => {
	const server = await startLwwServer({objects: 1, latency: 1});
	servers.push(server);
	const plan = planWorkload({seed: 1, automations: 3, edits: 2, objects: 1, readsPerEdit: 1});
	const release = server.hold();
	// Every request is held on purpose: probing the endpoint's quota would hold the others until the first is answered.
	const run = runWorkload(server, plan, {guarded: true, pacing: {probe: false}});
	// One update GET holds the lane; the three side GETs never wait for it.
	await server.whenInFlight(4);
	release();
	const result = await run;

	expect(result.counter).toEqual({expected: 6, stored: 6, lost: 0});
	expect(result.blocks).toEqual({expected: 6, stored: 6, lost: 0});
	expect(result.overlaps).toBe(0);
});

test('demoExitCode() - fails when the guarded run lost a counter increment, a block, or overlapped', () => {
	const clean = {
		requests: 1,
		requestsByMethod: {},
		counter: {expected: 4, stored: 4, lost: 0},
		blocks: {expected: 4, stored: 4, lost: 0},
		overlaps: 0,
		maxInFlightPerObject: 1,
		wallMs: 10,
		criticalPathMs: 9,
		efficiency: 0.9,
	};

	expect(demoExitCode({guarded: clean})).toBe(0);
	expect(demoExitCode({guarded: {...clean, counter: {expected: 4, stored: 3, lost: 1}}})).toBe(1);
	expect(demoExitCode({guarded: {...clean, blocks: {expected: 4, stored: 3, lost: 1}}})).toBe(1);
	expect(demoExitCode({guarded: {...clean, overlaps: 1}})).toBe(1);
	expect(demoExitCode({guarded: {...clean, maxInFlightPerObject: 2}})).toBe(1);
});

test('writelane demo - prints the side-by-side table and a timeline within 100 columns, without colours', async () => {
	const {io, stdout} = capture({color: false});
	const code = await runDemo(['--automations', '4', '--edits', '2', '--objects', '3', '--latency', '2-6'], io);
	const text = stdout();

	expect(code).toBe(0);
	expect(text).toMatch(/^\s+plain fetch\s+writelane$/m);
	for (const row of ['requests', 'lost counter increments', 'lost appended blocks', 'overlapping writes', 'max writes in flight per object', 'wall time', 'critical path (busiest lane)', 'efficiency (critical path / wall time)']) {
		expect(text).toContain(`\n${row} `);
	}

	expect(text).toMatch(/^lost counter increments\s+\d+ of 8\s+0 of 8$/m);
	expect(text).toContain('writelane run, one row per object lane');
	expect(text).toMatch(/^object 1 \|/m);
	expect(text).toMatch(/^object 3 \|/m);
	expect(text).not.toMatch(ansi);
	for (const line of text.split('\n')) {
		expect(line.length).toBeLessThanOrEqual(100);
	}
});

test('writelane demo --no-timeline - leaves the timeline out; colour only when asked for', async () => {
	const plain = capture({color: false});
	await runDemo(['--no-timeline', '--automations', '2', '--edits', '1', '--objects', '2', '--latency', '1'], plain.io);
	const colored = capture({color: true});
	await runDemo(['--no-timeline', '--automations', '2', '--edits', '1', '--objects', '2', '--latency', '1'], colored.io);

	expect(plain.stdout()).toContain('lost counter increments');
	expect(plain.stdout()).not.toContain('object lane');
	expect(colored.stdout()).toMatch(ansi);
});

test('writelane demo - an aborted signal stops it with exit code 130', async () => {
	const {io, stderr} = capture({signal: AbortSignal.abort()});

	expect(await runDemo(['--automations', '2', '--edits', '1', '--objects', '1'], io)).toBe(130);
	expect(stderr()).toBe('writelane: demo interrupted\n');
});

test('planWorkload() - the same seed gives the same plan, and every index names an object', () => {
	fc.assert(
		fc.property(
			fc.integer({min: -1000, max: 1000}),
			fc.integer({min: 1, max: 5}),
			fc.integer({min: 1, max: 5}),
			fc.integer({min: 1, max: 7}),
			fc.integer({min: 0, max: 3}),
			(seed, automations, edits, objects, readsPerEdit) => {
				const options = {seed, automations, edits, objects, readsPerEdit};
				const plan = planWorkload(options);
				expect(planWorkload(options)).toEqual(plan);
				expect(plan).toHaveLength(automations);
				for (const edit of plan.flat()) {
					expect(edit.reads).toHaveLength(readsPerEdit);
					for (const index of [edit.object, ...edit.reads]) {
						expect(Number.isInteger(index) && index >= 0 && index < objects).toBe(true);
					}
				}
			},
		),
	);
	expect(planWorkload({seed: 1, automations: 4, edits: 4, objects: 10, readsPerEdit: 0})).not.toEqual(
		planWorkload({seed: 2, automations: 4, edits: 4, objects: 10, readsPerEdit: 0}),
	);
});

test('criticalPath() - the busiest lane counts its writes and update() reads; concurrency spreads all work', () => {
	const entry = (objectId: string | undefined, method: string, path: string, start: number, end: number): LwwLogEntry => ({
		...(objectId === undefined ? {} : {objectId}),
		method,
		path,
		kind: method === 'GET' ? 'read' : 'write',
		start,
		end,
		status: 200,
	});
	const log = [
		entry('a', 'GET', '/object', 0, 10),
		entry('a', 'PATCH', '/object', 10, 30),
		entry('a', 'GET', '/object/markdown', 0, 50),
		entry('b', 'POST', '/blocks/append', 0, 25),
		entry(undefined, 'GET', '/objects', 0, 15),
	];

	expect(criticalPath(log, false)).toBe(30);
	expect(criticalPath(log, 2)).toBe(60);
	expect(criticalPath(log, 10)).toBe(30);
	expect(criticalPath([], false)).toBe(0);
});

// Timeline

test('renderTimeline() - writes are bracketed bars, reads dashes, reads during a write pluses, overlaps counts', () => {
	const entries = [
		{objectId: 'a', kind: 'write', start: 0, end: 9},
		{objectId: 'a', kind: 'write', start: 9, end: 15},
		{objectId: 'a', kind: 'read', start: 3, end: 7},
		{objectId: 'a', kind: 'read', start: 20, end: 23},
		{objectId: 'b', kind: 'write', start: 0, end: 12},
		{objectId: 'b', kind: 'write', start: 3, end: 9},
		{kind: 'read', start: 1, end: 2},
	] as const;
	const timeline = renderTimeline(entries, {
		lanes: [
			{id: 'a', label: 'a'},
			{id: 'b', label: 'b'},
		],
		msPerColumn: 3,
		width: 22,
		style: createStyle(false),
	});

	expect(timeline.lines).toEqual(['   0         30', 'a |[++|=]--', 'b |[22|]']);
	expect(timeline.spanMs).toBe(23);
	expect(timeline.shownMs).toBe(23);
});

test('renderTimeline() - shows only what fits and summarizes the lanes left out', () => {
	const lanes = Array.from({length: 3}, (_, index) => ({id: String(index), label: `lane ${index}`}));
	const timeline = renderTimeline([{objectId: '0', kind: 'write', start: 100, end: 400}], {
		lanes,
		msPerColumn: 10,
		width: 28,
		style: createStyle(false),
		maxLanes: 2,
	});

	expect(timeline.lines).toEqual(['        0         100', `lane 0 |[${'='.repeat(19)}`, 'lane 1 |', '... and 1 more lanes']);
	expect(timeline.shownMs).toBe(200);
	expect(timeline.spanMs).toBe(300);
});

// Help and usage errors

test('writelane --help - Usage, Commands, Options and Examples; only commands that exist', async () => {
	const {io, stdout} = capture();

	expect(await main(['--help'], io)).toBe(0);
	const text = stdout();
	for (const section of ['Usage', 'Commands', 'Options', 'Examples']) {
		expect(text).toMatch(new RegExp(`^${section}$`, 'm'));
	}

	const commands = text.split('Commands\n')[1]!.split('\n\n')[0]!.split('\n').map(line => line.trim().split(' ')[0]);
	expect(commands).toEqual(['run', 'demo', 'serve', 'help']);
});

test('writelane demo --help and writelane help serve - each command documents its options', async () => {
	const demo = capture();
	const serve = capture();

	expect(await runDemo(['--help'], demo.io)).toBe(0);
	expect(await main(['help', 'serve'], serve.io)).toBe(0);
	for (const [text, flags] of [
		[demo.stdout(), ['--seed', '--automations', '--edits', '--objects', '--latency', '--no-timeline', '--json']],
		[serve.stdout(), ['--port', '--host', '--objects', '--latency', '--token', '--rate', '--seed', '--mode']],
	] as const) {
		expect(text).toMatch(/^Usage$/m);
		expect(text).toMatch(/^Options$/m);
		expect(text).toMatch(/^Examples$/m);
		for (const flag of flags) {
			expect(text).toContain(`  ${flag} `);
		}
	}
});

test('writelane --version - prints the package version', async () => {
	const {io, stdout} = capture();

	expect(await main(['--version'], io)).toBe(0);
	expect(stdout()).toBe(`${version()}\n`);
	expect(version()).toMatch(/^\d+\.\d+\.\d+/);
});

test('usage errors - exit code 2 and a message naming the flag and the value', async () => {
	const cases: Array<[run: (io: CliIo) => Promise<number>, message: RegExp]> = [
		[io => runDemo(['--bogus'], io), /Unknown option `--bogus` for `writelane demo`/],
		[io => runDemo(['--latency', '5-'], io), /Expected `--latency` to be .*got `"5-"` \(string\)/],
		[io => runDemo(['--latency', '30-5'], io), /Expected `--latency` to be .*MIN <= MAX.*got `"30-5"` \(string\)/],
		[io => runDemo(['--automations', '0'], io), /Expected `--automations` to be an integer from 1 to 10000, got `"0"` \(string\)/],
		[io => runDemo(['--seed'], io), /Option `--seed` needs a value/],
		[io => runDemo(['--seed', '1.5'], io), /Expected `--seed` to be a safe integer, got `"1.5"` \(string\)/],
		[io => runDemo(['--json=yes'], io), /Option `--json` takes no value/],
		[io => runDemo(['--seed', '-5'], io), /Option `--seed` got a value starting with `-`: write it as `--seed=VALUE`/],
		[io => runDemo(['extra'], io), /Unexpected argument `extra` for `writelane demo`/],
		[io => runServe(['--rate', '5/h'], io), /Expected `--rate` to be a rate `N\/s` or `N\/min`.*got `"5\/h"` \(string\)/],
		[io => runServe(['--rate', '0/s'], io), /Expected `--rate` .*got `"0\/s"` \(string\)/],
		[io => runServe(['--port', '70000'], io), /Expected `--port` to be an integer from 0 to 65535, got `"70000"` \(string\)/],
		[io => runServe(['--token', 'has space'], io), /Expected `--token` .*got a string of length 9/],
		[io => runServe(['--mode', 'crdt'], io), /Expected `--mode` to be `lww`, `etag` or `version`, got `"crdt"` \(string\)/],
		[io => main(['deploy'], io), /Unknown command `deploy`/],
		[io => main(['help', 'deploy'], io), /Unknown command `deploy`/],
		[io => main(['--verbose'], io), /Unknown option `--verbose`/],
	];

	for (const [run, message] of cases) {
		const {io, stdout, stderr} = capture();
		expect(await run(io)).toBe(2);
		expect(stderr()).toMatch(message);
		expect(stderr()).toMatch(/^writelane: /);
		expect(stdout()).toBe('');
	}
});

test('writelane with no command - prints the help and exits 2', async () => {
	const {io, stdout} = capture();

	expect(await main([], io)).toBe(2);
	expect(stdout()).toMatch(/^Usage$/m);
});

test('parseLatency() and parseRate() - accepted spellings', () => {
	expect(parseLatency('--latency', '12')).toBe(12);
	expect(parseLatency('--latency', '5-30')).toEqual([5, 30]);
	expect(parseLatency('--latency', '0.5-0.5')).toEqual([0.5, 0.5]);
	expect(parseRate('--rate', '5/s')).toEqual({limit: 5, interval: 1000});
	expect(parseRate('--rate', '30/min')).toEqual({limit: 30, interval: 60_000});
});

// Serve

test('writelane serve - serves the objects it prints, and stops when the signal aborts', async () => {
	const controller = new AbortController();
	let listening!: () => void;
	const ready = new Promise<void>(resolve => {
		listening = resolve;
	});
	const out: string[] = [];
	const io: CliIo = {
		stdout(text) {
			out.push(text);
			if (text.includes('URL:')) {
				listening();
			}
		},
		stderr(text) {
			throw new Error(`unexpected stderr: ${text}`);
		},
		signal: controller.signal,
	};
	const stopped = runServe(['--port', '0', '--objects', '2', '--token', 'cap-api-cli-test', '--latency', '0', '--rate', '100/s'], io);
	await ready;
	const banner = out.join('');
	const url = /^URL: +(http:\/\/127\.0\.0\.1:\d+)$/m.exec(banner)?.[1];
	const ids = [...banner.matchAll(/^ {2}([\da-f-]{36}) {2}Object \d$/gm)].map(match => match[1]);

	expect(url).toBeDefined();
	expect(banner).toMatch(/^Token: +cap-api-cli-test$/m);
	expect(banner).toMatch(/^Rate limit: +100 per second per token$/m);
	expect(ids).toHaveLength(2);
	const response = await fetch(`${url}/objects`, {headers: {authorization: 'Bearer cap-api-cli-test'}});
	const listed = (await response.json()) as {objects: Array<{id: string}>};
	expect(response.headers.get('ratelimit')).toMatch(/^limit=100, /);
	expect(listed.objects.map(object => object.id)).toEqual(ids);

	controller.abort();
	expect(await stopped).toBe(0);
	expect(out.join('')).toMatch(/Server stopped\.\n$/);
	await expect(fetch(`${url}/objects`)).rejects.toThrow();
});

test('writelane serve - a port in use is an error naming the flag', async () => {
	const server = await startLwwServer();
	servers.push(server);
	const port = new URL(server.url).port;
	const {io, stderr} = capture({signal: AbortSignal.abort()});

	expect(await runServe(['--port', port], io)).toBe(1);
	expect(stderr()).toBe(`writelane: port ${port} is in use (--port ${port}); pick another one, or --port 0 for a free one\n`);
});

// The built bin

const bin = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

test.skipIf(!existsSync(bin))('dist/cli/index.js --help - the built bin runs and prints the help', async () => {
	const {stdout, stderr} = await promisify(execFile)(process.execPath, [bin, '--help']);

	expect(stderr).toBe('');
	expect(stdout).toMatch(/^Usage$/m);
	expect(stdout).toContain('writelane demo');
});
