// `writelane run` end to end: the CLI as a real process, against the reference server over HTTP.
import {type ChildProcess, spawn, spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {build} from 'esbuild';
import {afterAll, beforeAll, expect, onTestFinished, test} from 'vitest';
import {type LwwServer, startLwwServer} from '../src/testing/index.js';
import {deferred} from './helpers.js';
import {root, runNode} from './process-helpers.js';
import {startRedis} from './redis-server.js';

const tokenVariable = 'WRITELANE_TEST_TOKEN';
let cli: string;
let directory: string;

beforeAll(async () => {
	// The CLI from the current sources, so the test never runs a stale dist/.
	cli = join(root, 'node_modules/.cache/writelane-test/cli.mjs');
	await build({
		entryPoints: [join(root, 'src/cli/index.ts')],
		bundle: true,
		platform: 'node',
		format: 'esm',
		target: 'node20',
		packages: 'external',
		outfile: cli,
		logLevel: 'error',
	});
	directory = await mkdtemp(join(tmpdir(), 'writelane-run-'));
});

afterAll(async () => {
	await rm(directory, {recursive: true, force: true});
});

/** The reference server behind a proxy that counts, per operation (its `x-op` header), the requests that reached it. */
async function target(objects: number, latency: number | [number, number] = [1, 3], hold?: (seen: ReadonlyMap<string, number>) => boolean) {
	const server = await startLwwServer({objects, latency});
	const counts = new Map<string, number>();
	let total = 0;
	const thresholds: Array<{count: number; reached: () => void}> = [];
	// With `hold`, requests wait here until it returns false for the operations seen so far.
	const held: Array<() => void> = [];
	const proxy: Server = createServer((request, response) => {
		const chunks: Buffer[] = [];
		request.on('data', (chunk: Buffer) => chunks.push(chunk));
		request.on('end', () => {
			const tag = request.headers['x-op'];
			if (typeof tag === 'string') {
				counts.set(tag, (counts.get(tag) ?? 0) + 1);
			}

			total++;
			for (const threshold of thresholds.filter(entry => entry.count === total)) {
				threshold.reached();
			}

			if (hold?.(counts)) {
				held.push(forward);
				return;
			}

			for (const release of held.splice(0)) {
				release();
			}

			forward();
		});

		const forward = () => {
			const headers = new Headers();
			for (const name of ['authorization', 'content-type']) {
				const value = request.headers[name];
				if (typeof value === 'string') {
					headers.set(name, value);
				}
			}

			const body = chunks.length > 0 ? Buffer.concat(chunks) : null;
			fetch(server.url + request.url, {method: request.method ?? 'GET', headers, body})
				.then(async answer => {
					response.writeHead(answer.status, {'content-type': answer.headers.get('content-type') ?? 'application/json'});
					response.end(Buffer.from(await answer.arrayBuffer()));
				})
				.catch(() => {
					response.destroy();
				});
		};
	});
	await new Promise<void>(resolve => {
		proxy.listen(0, '127.0.0.1', resolve);
	});
	onTestFinished(async () => {
		proxy.closeAllConnections();
		await new Promise<void>(resolve => {
			proxy.close(() => resolve());
		});
		await server.close();
	});
	return {
		server,
		url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
		counts,
		total: () => total,
		/** Resolves when the proxy has received `count` requests. */
		after(count: number): Promise<void> {
			const reached = deferred();
			thresholds.push({count, reached: reached.resolve});
			return reached.promise;
		},
	};
}

type Operation = {id: string; method: string; path: string; headers: Record<string, string>; body: unknown};

/**
`count` operations over the server's objects, each tagged `x-op: <id>`: PATCHes of properties, and
(unless `patchesOnly`) block appends, whose order shows in the stored block list.
*/
function operations(ids: readonly string[], count: number, patchesOnly = false): Operation[] {
	return Array.from({length: count}, (_, index) => {
		const id = ids[(index * 7 + (index % 3)) % ids.length]!;
		const tag = `op${index}`;
		if (!patchesOnly && index % 3 === 2) {
			return {id: tag, method: 'POST', path: '/blocks/append', headers: {'x-op': tag}, body: {id, blocks: [{type: 'TextBlock', tokens: [{type: 'TextToken', text: tag, style: {}}]}]}};
		}

		return {id: tag, method: 'PATCH', path: '/object', headers: {'x-op': tag}, body: {id, properties: {counter: {type: 'number', number: index}, [`p${index % 4}`]: {type: 'text', text: tag}}}};
	});
}

async function file(name: string, lines: readonly unknown[]): Promise<string> {
	const path = join(directory, name);
	await writeFile(path, `${lines.map(line => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`);
	return path;
}


/** The same operations one after another with plain fetch against a fresh server: the state a correct batch must reach. */
async function sequentialState(objects: number, ops: readonly Operation[]): Promise<unknown> {
	const server = await startLwwServer({objects, latency: 0});
	try {
		for (const operation of ops) {
			const response = await fetch(server.url + operation.path, {
				method: operation.method,
				headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json'},
				body: JSON.stringify(operation.body),
			});
			expect(response.ok).toBe(true);
			await response.arrayBuffer();
		}

		return server.contents();
	} finally {
		await server.close();
	}
}

type Run = {readonly child: ChildProcess; readonly done: Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string}>};

function start(args: readonly string[], token: string): Run {
	const child = spawn(process.execPath, [cli, 'run', ...args], {env: {...process.env, [tokenVariable]: token, NO_COLOR: ''}, stdio: ['ignore', 'pipe', 'pipe']});
	let stdout = '';
	let stderr = '';
	child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
		stdout += chunk;
	});
	child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
		stderr += chunk;
	});
	const done = new Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string}>(resolve => {
		child.once('close', (code, signal) => {
			resolve({code, signal, stdout, stderr});
		});
	});
	return {child, done};
}

async function run(args: readonly string[], token: string) {
	return start(args, token).done;
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
	return stdout
		.split('\n')
		.filter(line => line !== '')
		.map(line => JSON.parse(line) as Record<string, unknown>);
}

function summaryOf(stdout: string): Record<string, unknown> {
	const summary = jsonLines(stdout).find(line => line.type === 'summary');
	expect(summary).toBeDefined();
	return summary!;
}

async function journalEntries(path: string): Promise<string[]> {
	const [header, ...entries] = (await readFile(path, 'utf8')).split('\n');
	expect(header).toBe('{"writelane":"journal","version":1}');
	// A killed process may leave a torn last line: it acknowledged nothing.
	return entries.flatMap(line => {
		try {
			return [JSON.parse(line) as string];
		} catch {
			return [];
		}
	});
}

const common = (url: string) => ['--base-url', url, '--token-env', tokenVariable, '--preset', 'capacities'];

test('writelane run - 400 operations over 20 objects reach the state of a sequential run, each sent once, the token never printed', async () => {
	const api = await target(20);
	const ops = operations(api.server.objectIds, 400);
	const path = await file('state.ndjson', ops);
	const journal = join(directory, 'state.journal');

	const result = await run([path, ...common(api.url), '--concurrency', '16', '--journal', journal], api.server.token);

	expect(result.stderr).toBe('');
	expect(result.code).toBe(0);
	const lines = jsonLines(result.stdout);
	expect(lines[0]).toMatchObject({type: 'plan', operations: 400, lanes: 20});
	expect(lines.filter(line => line.type === 'operation')).toHaveLength(400);
	expect(summaryOf(result.stdout)).toMatchObject({operations: 400, done: 400, failed: 0, skipped: 0, requests: 400, lanes: 20});
	expect(api.server.report().overlaps).toBe(0);
	expect([...api.counts.values()].every(count => count === 1)).toBe(true);
	expect(api.counts.size).toBe(400);
	expect(api.server.contents()).toEqual(await sequentialState(20, ops));
	expect(result.stdout + result.stderr).not.toContain(api.server.token);
	expect(await readFile(journal, 'utf8')).not.toContain(api.server.token);
	expect(await journalEntries(journal)).toHaveLength(400);
}, 120_000);

for (const signal of ['SIGKILL', 'SIGINT'] as const) {
	test(`writelane run - killed with ${signal} mid-run and run again with its journal: no acknowledged write is sent twice, the state matches`, async () => {
		const api = await target(8, [2, 4]);
		const ops = operations(api.server.objectIds, 240, true);
		const path = await file(`kill-${signal}.ndjson`, ops);
		const journal = join(directory, `kill-${signal}.journal`);
		const args = [path, ...common(api.url), '--concurrency', '8', '--journal', journal];

		const first = start(args, api.server.token);
		await api.after(80);
		first.child.kill(signal);
		const stopped = await first.done;
		const acknowledged = await journalEntries(journal);
		const sentBefore = new Map(api.counts);

		if (signal === 'SIGINT') {
			// Finished what was in flight, recorded it, printed the summary.
			expect(stopped.code).toBe(130);
			expect(summaryOf(stopped.stdout)).toMatchObject({stopped: true, done: acknowledged.length});
			expect(sentBefore.size).toBe(acknowledged.length);
		} else {
			expect(stopped.signal).toBe('SIGKILL');
		}

		expect(acknowledged.length).toBeGreaterThan(0);
		expect(acknowledged.length).toBeLessThan(240);

		const second = await run(args, api.server.token);
		expect(second.stderr).toBe('');
		expect(second.code).toBe(0);
		expect(summaryOf(second.stdout)).toMatchObject({resumed: acknowledged.length, done: 240 - acknowledged.length, failed: 0});
		for (const entry of acknowledged) {
			expect(api.counts.get(entry.replace(/^id:/, ''))).toBe(1);
		}

		// Every operation arrived; only ones in flight at a SIGKILL (unacknowledged) may have arrived twice.
		expect(api.counts.size).toBe(240);
		const twice = [...api.counts].filter(([, count]) => count > 1).map(([tag]) => tag);
		expect(twice.every(tag => sentBefore.has(tag) && !acknowledged.includes(`id:${tag}`))).toBe(true);
		if (signal === 'SIGINT') {
			expect(twice).toEqual([]);
		}

		expect(api.server.report().overlaps).toBe(0);
		expect(api.server.contents()).toEqual(await sequentialState(8, ops));
	}, 120_000);
}

test('writelane run - an invalid file is reported line by line, exit 2, and nothing is sent', async () => {
	const api = await target(2);
	const [id] = api.server.objectIds;
	const path = await file('invalid.ndjson', [
		{id: 'a', method: 'PATCH', path: '/object', body: {id, title: 'ok'}},
		'{"method": "PATCH", "path": "/object", cap-api-secret}',
		{id: 'b', mehtod: 'PATCH', path: '/object'},
		{id: 'c', method: 'PATCH', url: 'https://elsewhere.example/object?token=cap-api-secret'},
		{id: 'd', method: 'PATCH', path: '/object', headers: {authorization: 'Bearer cap-api-secret'}},
		'',
		{id: 'a', method: 'DELETE', path: `/object?id=${id}`},
		{method: 'PATCH'},
	]);

	const result = await run([path, ...common(api.url)], api.server.token);

	expect(result.code).toBe(2);
	expect(result.stdout).toBe('');
	expect(result.stderr.split('\n').filter(line => line !== '')).toEqual([
		`writelane: ${path} line 2: not valid JSON: Expected double-quoted property name (column 40)`,
		`writelane: ${path} line 3: Unknown field \`mehtod\`; an operation has id, method, url, path, headers, body, key`,
		`writelane: ${path} line 4: Expected \`url\` to be a URL on \`baseUrl\`'s origin ${api.url}, got \`"https://elsewhere.example/object"\` (string)`,
		`writelane: ${path} line 5: \`headers.authorization\`: credentials come from the environment (--token-env), never from the file`,
		`writelane: ${path} line 7: \`id\` "a" is already the id of line 1`,
		`writelane: ${path} line 8: Expected \`url\` or \`path\` to name the request's target, got neither`,
		'writelane: Nothing was sent.',
	]);
	expect(result.stderr).not.toContain('cap-api-secret');
	expect(api.total()).toBe(0);
	expect(api.server.report().total).toBe(0);
}, 30_000);

test('writelane run - usage errors: a missing token variable or base URL, a bad shard; exit 2 before reading anything', async () => {
	const api = await target(1);
	const path = await file('usage.ndjson', operations(api.server.objectIds, 3));
	const missing = spawnSync(process.execPath, [cli, 'run', path, '--base-url', api.url, '--token-env', 'WRITELANE_TEST_UNSET'], {encoding: 'utf8', env: {...process.env, WRITELANE_TEST_UNSET: ''}});
	expect(missing.status).toBe(2);
	expect(missing.stderr).toBe('writelane: Environment variable `WRITELANE_TEST_UNSET` (from --token-env) is not set\n');

	const noBase = await run([path], api.server.token);
	expect(noBase.code).toBe(2);
	expect(noBase.stderr).toContain('Expected `--base-url` to be set');

	const shard = await run([path, '--base-url', api.url, '--shard', '2/2'], api.server.token);
	expect(shard.code).toBe(2);
	expect(shard.stderr).toBe('writelane: Expected `--shard` to be `I/N` with 0 <= I < N <= 65536 (e.g. `0/4`), got `"2/2"` (string)\n');
	expect(api.total()).toBe(0);
}, 30_000);

test('writelane run --dry-run - prints the plan (lanes, longest lane, critical path) and sends nothing', async () => {
	const api = await target(4);
	const ops = operations(api.server.objectIds, 40);
	const path = await file('plan.ndjson', ops);

	const json = await run([path, ...common(api.url), '--dry-run', '--concurrency', '4', '--rate', '10/s'], api.server.token);
	expect(json.code).toBe(0);
	const perObject = new Map<string, number>();
	for (const operation of ops) {
		const id = (operation.body as {id: string}).id;
		perObject.set(id, (perObject.get(id) ?? 0) + 1);
	}

	const longest = Math.max(...perObject.values());
	expect(jsonLines(json.stdout)).toEqual([
		{
			type: 'plan',
			file: path,
			operations: 40,
			lanes: 4,
			laneless: 0,
			longestLane: {key: expect.stringMatching(/^objects\//) as string, operations: longest},
			rounds: Math.max(longest, 10),
			rateMs: 3000,
		},
	]);
	expect(api.total()).toBe(0);
}, 30_000);

test('writelane run --shard - two shards together send every operation exactly once and reach the sequential state', async () => {
	const api = await target(16);
	const ops = operations(api.server.objectIds, 160);
	const path = await file('shard.ndjson', ops);
	const [zero, one] = await Promise.all([run([path, ...common(api.url), '--shard', '0/2'], api.server.token), run([path, ...common(api.url), '--shard', '1/2'], api.server.token)]);

	expect(zero.stderr + one.stderr).toBe('');
	expect([zero.code, one.code]).toEqual([0, 0]);
	const done = [summaryOf(zero.stdout).done, summaryOf(one.stdout).done] as number[];
	expect(done[0]! + done[1]!).toBe(160);
	expect(done.every(count => count > 0)).toBe(true);
	expect(api.counts.size).toBe(160);
	expect([...api.counts.values()].every(count => count === 1)).toBe(true);
	expect(api.server.report().overlaps).toBe(0);
	expect(api.server.contents()).toEqual(await sequentialState(16, ops));

	// A lane and a lane below it on different shards could run at once: refused.
	const nested = await file('nested.ndjson', [
		{method: 'PUT', path: '/a', key: 'spaces/1'},
		...Array.from({length: 40}, (_, index) => ({method: 'PUT', path: '/b', key: `spaces/1/objects/${index}`})),
	]);
	const refused = await run([nested, '--base-url', api.url, '--shard', '0/2'], api.server.token);
	expect(refused.code).toBe(2);
	expect(refused.stderr).toMatch(/lane `spaces\/1` and lane `spaces\/1\/objects\/\d+` below it conflict but fall on different shards of 2/);
}, 120_000);

test('writelane run - a failed operation skips the rest of its lane, other lanes finish; exit 1', async () => {
	const api = await target(3);
	const [first, second] = api.server.objectIds;
	const missing = '00000000-0000-4000-8000-000000000000';
	const path = await file('failing.ndjson', [
		{id: 'x1', method: 'PATCH', path: '/object', body: {id: first, title: 'one'}},
		{id: 'm1', method: 'PATCH', path: '/object', key: `objects/${first}`, body: {id: missing, title: 'nowhere'}},
		{id: 'x2', method: 'PATCH', path: '/object', body: {id: first, title: 'two'}},
		{id: 'y1', method: 'PATCH', path: '/object', body: {id: second, title: 'three'}},
	]);

	const result = await run([path, ...common(api.url), '--json'], api.server.token);
	expect(result.code).toBe(1);
	const outcomes = Object.fromEntries(jsonLines(result.stdout).filter(line => line.type === 'operation').map(line => [line.id, [line.outcome, line.status, line.line]]));
	expect(outcomes).toEqual({x1: ['done', 200, 1], m1: ['failed', 404, 2], x2: ['skipped', undefined, 3], y1: ['done', 200, 4]});
	expect(api.server.object(first!)?.title).toBe('one');
	expect(api.server.object(second!)?.title).toBe('three');
}, 30_000);

const hasScript = spawnSync('script', ['--version'], {encoding: 'utf8'}).status === 0;

test.skipIf(!hasScript)('writelane run - on a terminal: a live progress display and a summary table; off it, JSON lines', async () => {
	const api = await target(10);
	const path = await file('tty.ndjson', operations(api.server.objectIds, 100));
	// util-linux `script` runs the command on a pseudo-terminal; NO_COLOR keeps the output plain.
	const command = [process.execPath, cli, 'run', path, ...common(api.url)].map(part => `'${part}'`).join(' ');
	// Not spawnSync: the server answering the CLI runs in this process.
	const script = spawn('script', ['-qec', command, '/dev/null'], {env: {...process.env, [tokenVariable]: api.server.token, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']});
	let screen = '';
	script.stdout.setEncoding('utf8').on('data', (chunk: string) => {
		screen += chunk;
	});
	const status = await new Promise<number | null>(resolve => {
		script.once('close', resolve);
	});

	expect(status).toBe(0);
	expect(screen).toMatch(/█+░*\s+\d+%\s+[\d,]+\/100\s+[\d,]+\/s\s+ETA/);
	expect(screen).toContain('\u001B[2K');
	expect(screen).toMatch(/busiest lanes: /);
	expect(screen).toMatch(/done\s+100\r?\n/);
	expect(screen).toMatch(/Critical path .+: efficiency \d+%/);
	expect(screen).not.toContain('{"type"');
	expect(screen).not.toContain(api.server.token);

	// The same run with its output piped: one JSON object per line.
	const piped = await run([path, ...common(api.url)], api.server.token);
	const lines = jsonLines(piped.stdout);
	expect(lines.map(line => line.type)).toEqual(['plan', ...Array.from({length: 100}, () => 'operation'), 'summary']);
}, 120_000);

// Fails, never skips, without redis-server: .ci/run installs it.
test('writelane run --redis - two processes running different files on the same objects never overlap; without Redis they do', async () => {
	const redis = await startRedis();
	onTestFinished(async () => {
		await redis.stop();
	});

	/** Appends tagged `<prefix><n>` to the first three objects; the first operation goes to a fourth object only this file uses. */
	const appends = (ids: readonly string[], prefix: string, own: string) => [
		{id: `${prefix}0`, method: 'POST', path: '/blocks/append', headers: {'x-op': `${prefix}0`}, body: {id: own, blocks: [{type: 'TextBlock', tokens: [{type: 'TextToken', text: `${prefix}0`, style: {}}]}]}},
		...Array.from({length: 45}, (_, index) => {
			const tag = `${prefix}${index + 1}`;
			return {id: tag, method: 'POST', path: '/blocks/append', headers: {'x-op': tag}, body: {id: ids[index % 3], blocks: [{type: 'TextBlock', tokens: [{type: 'TextToken', text: tag, style: {}}]}]}};
		}),
	];

	const texts = (server: LwwServer, id: string): string[] =>
		(server.object(id)?.blocks.content ?? []).flatMap(block => ((block.tokens as Array<{text: string}> | undefined) ?? []).map(token => token.text)).filter(text => /^[ab]\d+$/.test(text));

	async function both(withRedis: boolean) {
		// Nothing goes through until both processes have sent a request: their runs overlap in time. Any
		// request of each counts: with pacing, a process sends one request first (whichever got its
		// lane first) and holds the rest until it is answered.
		const sent = (seen: ReadonlyMap<string, number>, prefix: string) => [...seen.keys()].some(tag => tag.startsWith(prefix));
		const api = await target(5, [3, 6], seen => !(sent(seen, 'a') && sent(seen, 'b')));
		const ids = api.server.objectIds;
		const [a, b] = await Promise.all([file(`redis-a-${withRedis}.ndjson`, appends(ids, 'a', ids[3]!)), file(`redis-b-${withRedis}.ndjson`, appends(ids, 'b', ids[4]!))]);
		const shared = withRedis ? ['--redis', `redis://127.0.0.1:${redis.port}`, '--lease', '1000'] : [];
		const [first, second] = await Promise.all([run([a, ...common(api.url), ...shared], api.server.token), run([b, ...common(api.url), ...shared], api.server.token)]);
		expect(first.stderr + second.stderr).toBe('');
		expect([first.code, second.code]).toEqual([0, 0]);
		return {api, ids};
	}

	const {api, ids} = await both(true);
	expect(api.server.report().overlaps).toBe(0);
	for (const id of ids.slice(0, 3)) {
		const seen = texts(api.server, id);
		// Every append arrived once; each process's appends kept their file order.
		expect(seen).toHaveLength(30);
		for (const prefix of ['a', 'b']) {
			const mine = seen.filter(text => text.startsWith(prefix)).map(text => Number(text.slice(1)));
			expect(mine).toEqual([...mine].sort((x, y) => x - y));
		}
	}

	const unguarded = await both(false);
	expect(unguarded.api.server.report().overlaps).toBeGreaterThan(0);
}, 120_000);

const built = ['dist/index.js', 'dist/testing/index.js'].every(path => existsSync(join(root, path)));

test.skipIf(!built)('examples/batch-job.mjs - applies examples/ops.ndjson, then resumes everything from its journal', async () => {
	const {WRITELANE_BASE_URL: _url, WRITELANE_TOKEN: _token, ...env} = process.env;
	const {code, stdout} = await runNode(['examples/batch-job.mjs'], env);

	expect(code).toBe(0);
	expect(stdout).toMatch(/^first run: 15 done, 0 failed, 0 skipped, 15 requests in 3 lanes$/m);
	expect(stdout).toMatch(/^second run: 15 resumed, 0 requests$/m);
	expect(stdout).toMatch(/^Roadmap: counter=2, last note "Migration done"$/m);
}, 60_000);
