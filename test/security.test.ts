import {execFile} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {createServer} from 'node:net';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import ky from 'ky';
import {afterEach, beforeEach, expect, test, vi} from 'vitest';
import {capacities, createLanes, etag, HookError, kubernetes, type Lanes, notion, type Preset, rekord, square} from '../src/index.js';
import {compileKeys, toLaneRequest} from '../src/keys/index.js';
import type {FaultKind, FaultRequest, LwwServer} from '../src/testing/index.js';
import {deferred, readThrough} from './helpers.js';
import {startServer} from './http-helpers.js';
import {firstId, start} from './server-helpers.js';

/*
Security: a run through every entry point (`lanes.fetch`, `wrapKy`, `update()`, `write()`) that
carries secrets in `Authorization`, `Cookie`, `X-Api-Key`, URL user info and a query token, with
failures provoked (401, 5xx, resets, caller timeouts, bad JSON, invalid URLs). Every error message,
stack and cause, every event, `stats()`, everything logged and the CLI's output are searched: no
secret may appear. Every secret contains `marker`, so a truncated one is found too.
*/

const marker = 'Sekr3t';
const secrets = {
	token: `cap-api-${marker}-token-91f2`,
	wrongToken: `cap-api-${marker}-wrong-77ab`,
	cookie: `${marker}-cookie-5e1d`,
	apiKey: `${marker}-apikey-c0de`,
	password: `${marker}-password-8b8b`,
	query: `${marker}-query-4a4a`,
} as const;

const headers = {authorization: `Bearer ${secrets.token}`, cookie: `session=${secrets.cookie}; theme=dark`, 'x-api-key': secrets.apiKey};
const wrongHeaders = {...headers, authorization: `Bearer ${secrets.wrongToken}`};

/** Everything a user could see: error texts, events, stats, logs. */
class Evidence {
	readonly texts: string[] = [];

	add(label: string, text: string): void {
		this.texts.push(`${label}: ${text}`);
	}

	/** Name, message, stack and the whole cause chain; our own errors' fields too (ky's keep its Request by design). */
	error(label: string, error: unknown, depth = 0): void {
		if (depth > 10) {
			return;
		}

		if (!(error instanceof Error) && !(typeof error === 'object' && error !== null && 'message' in error)) {
			this.add(label, `${String(error)} ${(error as object | null)?.constructor?.name} ${JSON.stringify(error, replacer)}`);
			return;
		}

		const {name, message, stack} = error as Error;
		this.add(label, `${name}: ${message}\n${stack ?? ''}`);
		const {code} = error as {code?: unknown};
		if (typeof code === 'string' && code.startsWith('WL_')) {
			this.add(`${label} fields`, JSON.stringify(error, replacer));
		}

		if ((error as Error).cause !== undefined) {
			this.error(`${label} cause`, (error as Error).cause, depth + 1);
		}

		if (error instanceof AggregateError) {
			for (const inner of error.errors) {
				this.error(`${label} aggregate`, inner, depth + 1);
			}
		}
	}

	/** Waits for `promise` and records how it ended. */
	async settle(label: string, promise: Promise<unknown>): Promise<unknown> {
		try {
			const value = await promise;
			if (value instanceof Response) {
				// The body is the server's; what writelane adds is searched, not what the caller reads.
				await value.body?.cancel();
				return value;
			}

			this.add(`${label} value`, JSON.stringify(value, replacer) ?? 'undefined');
			return value;
		} catch (error) {
			this.error(label, error);
			return error;
		}
	}

	leaks(): string[] {
		return this.texts.filter(text => text.includes(marker));
	}
}

function replacer(_key: string, value: unknown): unknown {
	if (value instanceof Error) {
		return {...value, name: value.name, message: value.message, stack: value.stack, cause: value.cause};
	}

	if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') {
		return String(value);
	}

	if (value instanceof Response || value instanceof Request || value instanceof Headers) {
		return `[${value.constructor.name}]`;
	}

	return value;
}

let evidence: Evidence;
let restoreLogs: () => void;

beforeEach(() => {
	evidence = new Evidence();
	const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
	const spies = methods.map(method =>
		vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
			evidence.add(`console.${method}`, args.map(arg => (arg instanceof Error ? `${arg.message}\n${arg.stack}` : JSON.stringify(arg, replacer))).join(' '));
		}),
	);
	const onWarning = (warning: Error) => {
		evidence.error('process warning', warning);
	};

	process.on('warning', onWarning);
	restoreLogs = () => {
		for (const spy of spies) {
			spy.mockRestore();
		}

		process.off('warning', onWarning);
	};
});

afterEach(() => {
	restoreLogs();
});

function watch(lanes: Lanes): void {
	lanes.on('*', event => {
		evidence.add(`event ${event.type}`, JSON.stringify(event, replacer));
		if ('error' in event && event.error !== undefined) {
			evidence.error(`event ${event.type} error`, event.error);
		}
	});
}

/** A reference server whose next requests get the faults queued in `faults`. */
async function faultyServer(): Promise<{server: LwwServer; faults: FaultKind[]; arrivals: FaultRequest[]; onArrival: Array<(request: FaultRequest) => void>}> {
	const faults: FaultKind[] = [];
	const arrivals: FaultRequest[] = [];
	const onArrival: Array<(request: FaultRequest) => void> = [];
	const server = await start({
		token: secrets.token,
		objects: 3,
		latency: 0,
		faults(request) {
			arrivals.push(request);
			for (const listener of onArrival.splice(0)) {
				listener(request);
			}

			return faults.shift();
		},
	});
	return {server, faults, arrivals, onArrival};
}

function timeoutReason(): DOMException {
	return new DOMException('The operation timed out.', 'TimeoutError');
}

test('security - a run with failures through lanes.fetch, wrapKy, update() and write() shows no secret anywhere', async () => {
	const {server, faults, onArrival} = await faultyServer();
	const id = firstId(server);
	const objectUrl = `${server.url}/object?id=${id}&token=${secrets.query}`;
	const writeUrl = `${server.url}/object?token=${secrets.query}`;
	const withUserinfo = `http://user:${secrets.password}@127.0.0.1:${new URL(server.url).port}/object?id=${id}&token=${secrets.query}`;
	const lanes = createLanes({keys: capacities(), retry: {limit: 1, backoff: () => 0}, uncertain: {policy: 'verify', graceMs: 0}});
	watch(lanes);
	const json = {...headers, 'content-type': 'application/json'};
	const patch = (body: unknown, extra: Record<string, string> = {}) => ({method: 'PATCH', headers: {...json, ...extra}, body: JSON.stringify(body)});

	// lanes.fetch: success, retried 503, 500 handed back, 401, resets before and after apply, a caller timeout.
	await evidence.settle('fetch ok', lanes.fetch(objectUrl, {headers}));
	faults.push(503);
	await evidence.settle('fetch 503 retried', lanes.fetch(objectUrl, {headers}));
	faults.push(500);
	await evidence.settle('fetch 500', lanes.fetch(writeUrl, patch({id, properties: {}})));
	await evidence.settle('fetch 401', lanes.fetch(objectUrl, {headers: wrongHeaders}));
	faults.push('reset-before', 'reset-before');
	await evidence.settle('fetch reset twice', lanes.fetch(objectUrl, {headers}));
	faults.push('reset-after');
	await evidence.settle('fetch reset after apply', lanes.fetch(writeUrl, patch({id, properties: {}})));
	const timedOut = new AbortController();
	onArrival.push(() => {
		timedOut.abort(timeoutReason());
	});
	faults.push({slow: 60_000});
	await evidence.settle('fetch caller timeout', lanes.fetch(writeUrl, {...patch({id, properties: {}}), signal: timedOut.signal}));
	await evidence.settle('fetch user info', lanes.fetch(withUserinfo, {headers}));
	await evidence.settle('fetch malformed', lanes.fetch(`http://[127.0.0.1/object?token=${secrets.query}`, {headers}));
	await evidence.settle('fetch bad header', lanes.fetch(objectUrl, {headers: {...headers, authorization: `Bearer ${secrets.token}\r\nx-injected: 1`}}));

	// wrapKy: success, 401, a ky timeout, user info, retried 503.
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, headers, retry: {limit: 1, delay: () => 0}, searchParams: {token: secrets.query}}));
	await evidence.settle('ky ok', api.get('object', {searchParams: {id, token: secrets.query}}).json());
	await evidence.settle('ky 401', api.get('object', {searchParams: {id, token: secrets.query}, headers: wrongHeaders}).json());
	faults.push(503);
	await evidence.settle('ky 503 retried', api.get('object', {searchParams: {id, token: secrets.query}}).json());
	faults.push({slow: 60_000});
	await evidence.settle('ky timeout', api.get('object', {searchParams: {id, token: secrets.query}, timeout: 50, retry: 0}).json());
	await evidence.settle(
		'ky user info',
		(async () => lanes.wrapKy(ky).get(withUserinfo, {headers}).json())(),
	);

	// update(): success, 401, a 503 on the read, a reset after the write was applied, bad JSON, user info.
	const mutate = (object: {properties: Record<string, unknown>}) => ({id, properties: {...object.properties}});
	await evidence.settle('update ok', lanes.update(objectUrl, mutate, {headers, writeUrl}));
	await evidence.settle('update 401', lanes.update(objectUrl, mutate, {headers: wrongHeaders, writeUrl}));
	faults.push(503, 503);
	await evidence.settle('update 503', lanes.update(objectUrl, mutate, {headers, writeUrl}));
	// The read passes, the write is applied and its connection reset.
	faults.push(undefined as never, 'reset-after');
	await evidence.settle('update reset after apply', lanes.update(objectUrl, mutate, {headers, writeUrl}));
	await evidence.settle('update user info', lanes.update(withUserinfo, mutate, {headers}));
	await evidence.settle('update user info in writeUrl', lanes.update(objectUrl, mutate, {headers, writeUrl: withUserinfo}));
	const echo = await startServer((request, _body, response) => {
		// A debugging proxy that echoes what it got, as text: the worst case for an excerpt.
		response.writeHead(request.url?.startsWith('/409') ? 409 : 200, {'content-type': 'text/plain'});
		response.end(`you sent ${request.url} with ${request.headers.authorization} ${request.headers.cookie} ${request.headers['x-api-key']}`);
	});
	const echoJson = await startServer((request, _body, response) => {
		// An API that quotes the request in its error body: a 412 (a conflict, kept on ConflictError) or a 400.
		if (request.method === 'GET') {
			response.writeHead(200, {'content-type': 'application/json', etag: '"7"'}).end('{"properties":{}}');
			return;
		}

		response.writeHead(request.url?.startsWith('/conflict') ? 412 : 400, {'content-type': 'application/json'});
		response.end(JSON.stringify({error: 'refused', request: {url: request.url, authorization: request.headers.authorization, key: request.headers['x-api-key'], cookie: request.headers.cookie}}));
	});
	try {
		await evidence.settle('update bad JSON', lanes.update(`${echo.url}/object?token=${secrets.query}`, mutate, {headers}));
		await evidence.settle('update conflict echo', lanes.update(`${echoJson.url}/conflict?token=${secrets.query}`, mutate, {headers, attempts: 2, conflictBackoff: () => 0}));
		await evidence.settle('update 400 echo', lanes.update(`${echoJson.url}/invalid?token=${secrets.query}`, mutate, {headers}));
	} finally {
		await echo.close();
		await echoJson.close();
	}

	// write(): any client inside a lane; its failures are the caller's own errors.
	await evidence.settle(
		'write ok',
		lanes.write(`objects/${id}`, async ({signal}) => (await fetch(objectUrl, {headers, signal: signal ?? null})).status),
	);
	await evidence.settle(
		'write 401',
		lanes.write(`objects/${id}`, async ({signal}) => {
			const response = await fetch(objectUrl, {headers: wrongHeaders, signal: signal ?? null});
			await response.body?.cancel();
			throw new Error(`the server answered ${response.status}`);
		}),
	);
	const queuedAbort = new AbortController();
	const gate = deferred();
	const holder = lanes.write(`objects/${id}`, () => gate.promise);
	const queued = evidence.settle('write aborted in queue', lanes.write(`objects/${id}`, () => 'never', {signal: queuedAbort.signal}));
	evidence.add('stats while queued', JSON.stringify(lanes.stats(), replacer));
	queuedAbort.abort(timeoutReason());
	await queued;
	gate.resolve();
	await holder;

	await lanes.onIdle();
	evidence.add('stats', JSON.stringify(lanes.stats(), replacer));
	evidence.add('server report', JSON.stringify(server.report(), replacer));
	if (process.env.SECURITY_DUMP) {
		// Everything that was searched, to read it: `SECURITY_DUMP=file npx vitest run test/security.test.ts`.
		writeFileSync(process.env.SECURITY_DUMP, evidence.texts.join('\n---\n'));
	}
	expect(evidence.texts.length).toBeGreaterThan(40);
	expect(evidence.leaks()).toEqual([]);
	// Nothing was logged and no warning (MaxListenersExceeded, TimeoutOverflow) was printed.
	expect(evidence.texts.filter(text => text.startsWith('console.') || text.startsWith('process warning'))).toEqual([]);
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0});
}, 30_000);

// --- user code that throws is contained ----------------------------------------------------------

/** The call rejects with a HookError naming `hook`, whose cause is what the hook threw. */
async function expectHookError(promise: Promise<unknown>, hook: string): Promise<void> {
	const error = await promise.then(
		() => undefined,
		(error_: unknown) => error_,
	);
	if (!(error instanceof HookError)) {
		throw error;
	}

	expect(error).toBeInstanceOf(HookError);
	expect((error as HookError).hook).toBe(hook);
	expect(((error as HookError).cause as Error).message).toBe(`${hook} broke`);
	evidence.error(`hook ${hook}`, error);
}

const boom = (hook: string) => {
	throw new Error(`${hook} broke`);
};

test('security - a key rule that throws fails only its own call, through fetch, ky and update(); the lane keeps working', async () => {
	const server = await start({token: secrets.token, objects: 1, latency: 0});
	const id = firstId(server);
	const defaults = compileKeys(capacities());
	const lanes = createLanes({
		keys: {...capacities(), rule: request => (request.headers.has('x-boom') ? boom('rule') : defaults.resolve(request))},
	});
	watch(lanes);
	const boomHeaders = {...headers, 'x-boom': '1'};
	const url = `${server.url}/object?id=${id}&token=${secrets.query}`;
	const patch = (extra: Record<string, string> = {}) => ({
		method: 'PATCH',
		headers: {...headers, 'content-type': 'application/json', ...extra},
		body: JSON.stringify({id, properties: {}}),
	});
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, headers, retry: 0}));

	const before = lanes.fetch(`${server.url}/object`, patch());
	await expectHookError(lanes.fetch(`${server.url}/object`, patch({'x-boom': '1'})), 'rule');
	await expectHookError(api.get('object', {searchParams: {id}, headers: {'x-boom': '1'}}).json(), 'rule');
	await expectHookError(lanes.update(url, (object: object) => object, {headers: boomHeaders}), 'rule');
	const message = await lanes.fetch(url, {headers: boomHeaders}).catch((error: unknown) => (error as Error).message);
	expect(message).toBe(`The \`capacities\` preset's rule threw on GET ${server.url}/object; the request was not sent (the thrown value is the \`cause\`)`);

	// The calls around the failures run, in order, in the same lane.
	expect((await before).status).toBe(200);
	const after = await Promise.all([lanes.fetch(`${server.url}/object`, patch()), lanes.fetch(`${server.url}/object`, patch()), api.get('object', {searchParams: {id}}).json()]);
	expect(after.slice(0, 2).map(response => (response as Response).status)).toEqual([200, 200]);
	await lanes.onIdle();
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0, lanes: []});
	expect(server.report().overlaps).toBe(0);
	expect(evidence.leaks()).toEqual([]);
});

test("security - a preset's hooks that throw (bucket, isConflict, versioning.read, versioning.write) fail only that call; observe never fails one", async () => {
	const server = await start({token: secrets.token, objects: 1, latency: 0});
	const id = firstId(server);
	const base = capacities();
	const armed = new Set<string>();
	const maybe = <T>(hook: string, value: T): T => (armed.delete(hook) ? boom(hook) : value);
	const preset: Preset = {
		...base,
		bucket: request => maybe('bucket', base.bucket!(request)),
		isConflict: (status, body) => maybe('isConflict', status === 409 && body !== undefined),
		versioning: {type: 'field', read: resource => maybe('versioning.read', (resource as {lastUpdated?: string}).lastUpdated), write: body => maybe('versioning.write', body)},
		observe: () => maybe('observe', undefined),
	};
	const lanes = createLanes({keys: preset});
	watch(lanes);
	const url = `${server.url}/object?id=${id}&token=${secrets.query}`;
	const writeUrl = `${server.url}/object`;
	const rename = (object: {properties: Record<string, unknown>}) => ({id, properties: {...object.properties}});

	for (const hook of ['bucket', 'versioning.read', 'versioning.write']) {
		armed.add(hook);
		await expectHookError(lanes.update(url, rename, {headers, writeUrl}), hook);
		expect(armed.has(hook)).toBe(false);
		// The same lane at once takes the next update.
		expect((await lanes.update(url, rename, {headers, writeUrl})).written).toBe(true);
	}

	armed.add('isConflict');
	// An invalid write body: the server answers 400, which asks isConflict.
	await expectHookError(lanes.update(url, () => ({id, properties: 'not an object'}), {headers, writeUrl}), 'isConflict');
	armed.add('bucket');
	await expectHookError(lanes.fetch(url, {headers}), 'bucket');
	armed.add('observe');
	expect((await lanes.fetch(url, {headers})).status).toBe(200);
	expect(armed.has('observe')).toBe(false);

	await lanes.onIdle();
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0, lanes: []});
	expect(evidence.leaks()).toEqual([]);
});

// --- no prototype pollution from JSON bodies ------------------------------------------------------

/** JSON that tries every way of reaching a prototype, at the top and nested, next to real-looking fields. */
// Written as text: in an object literal `__proto__:` would set the prototype, not make a key.
const hostile = `{
	"__proto__": {"polluted": "top", "id": "victim", "version": 99},
	"constructor": {"prototype": {"polluted": "constructor"}},
	"prototype": {"polluted": "prototype"},
	"object": "list",
	"results": [{"__proto__": {"polluted": "result"}, "object": "block", "id": "b1", "parent": {"__proto__": {"page_id": "victim"}}}],
	"metadata": {"__proto__": {"polluted": "metadata", "resourceVersion": "99"}, "name": "n1"},
	"blocks": {"__proto__": [{"id": "victim-block"}], "content": [{"id": "b2", "blocks": [{"__proto__": {"polluted": "block"}}]}]},
	"errors": [{"__proto__": {"code": "VERSION_MISMATCH"}}],
	"error": {"__proto__": {"code": "precondition_failed"}},
	"customers": {"__proto__": {"polluted": "customers"}}
}`;

function prototypesUntouched(): void {
	for (const prototype of [Object.prototype, Array.prototype, Function.prototype, String.prototype]) {
		expect(Object.getOwnPropertyNames(prototype)).not.toContain('polluted');
		expect(Object.getOwnPropertyNames(prototype)).not.toContain('id');
	}

	expect(({} as {polluted?: unknown}).polluted).toBeUndefined();
	expect(([] as unknown as {polluted?: unknown}).polluted).toBeUndefined();
}

test("security - update() keeps __proto__, constructor and prototype keys of a JSON body as plain data", async () => {
	const server = await startServer((request, body, response) => {
		response.writeHead(200, {'content-type': 'application/json', etag: '"1"'});
		response.end(request.method === 'GET' ? hostile : body);
	});
	try {
		const lanes = createLanes();
		let seen: Record<string, unknown> | undefined;
		const result = await lanes.update(`${server.url}/records/1`, (state: Record<string, unknown>) => {
			seen = state;
			return {...state, touched: true};
		});
		expect(result.written).toBe(true);
		expect(Object.getPrototypeOf(seen)).toBe(Object.prototype);
		expect(Object.hasOwn(seen!, '__proto__')).toBe(true);
		expect(seen!.id).toBeUndefined();
		// What was written carries the keys as data, so the server gets back what it sent.
		const written = server.log.find(line => line.startsWith('PATCH'))!;
		expect(JSON.parse(written.slice(written.indexOf(' ', 6) + 1))).toMatchObject({touched: true, ['__proto__']: {polluted: 'top'}});
		prototypesUntouched();
	} finally {
		await server.close();
	}
});

test("security - the presets' body readers read own data only: no pollution, no id taken from a prototype", async () => {
	const presets: Preset[] = [capacities(), notion(), square(), kubernetes(), rekord(), etag({keys: ['/v1/records/:id/**']})];
	const shapes: ReadonlyArray<readonly [string, string]> = [
		['PATCH', 'https://api.capacities.io/object'],
		['POST', 'https://api.capacities.io/blocks/append'],
		['PATCH', 'https://api.capacities.io/blocks/block'],
		['POST', 'https://api.capacities.io/blocks/daily-note/append'],
		['POST', 'https://api.notion.com/v1/pages'],
		['PATCH', 'https://api.notion.com/v1/blocks/b1/children'],
		['POST', 'https://connect.squareup.com/v2/catalog/object'],
		['POST', 'https://connect.squareup.com/v2/catalog/batch-upsert'],
		['POST', 'https://connect.squareup.com/v2/customers/bulk-update'],
		['PUT', 'https://connect.squareup.com/v2/orders/o1'],
		['POST', 'https://k8s.example/api/v1/namespaces/default/configmaps'],
		['PUT', 'https://rekord.example/records/r1'],
		['PATCH', 'https://api.example/v1/records/r1'],
	];
	for (const preset of presets) {
		const keys = compileKeys(preset);
		for (const [method, url] of shapes) {
			const request = new Request(url, {method, headers: {'content-type': 'application/json'}, body: hostile});
			const {keys: laneKeys} = keys.resolve(await toLaneRequest(request, true));
			// No lane is named after what only the prototype chain would hold.
			expect(laneKeys.join(' ')).not.toMatch(/victim|polluted/);
			await preset.observe?.(await toLaneRequest(new Request(url), false), new Response(hostile, {headers: {'content-type': 'application/json'}}));
		}

		const body = JSON.parse(hostile) as unknown;
		for (const status of [400, 409, 412]) {
			preset.isConflict?.(status, body);
		}

		if (preset.versioning?.type === 'field') {
			expect(preset.versioning.read(body)).not.toBe(99);
			const written = preset.versioning.write(body, 7);
			expect(Object.getPrototypeOf(written)).toBe(Object.prototype);
		}
	}

	// A block map key named `__proto__` is data like any other: its blocks belong to the object.
	const preset = capacities();
	const learned = compileKeys(preset);
	const objectUrl = 'https://api.capacities.io/object?id=00000000-0000-4000-8000-000000000001';
	await readThrough(preset, await toLaneRequest(new Request(objectUrl), false), new Response(hostile, {headers: {'content-type': 'application/json'}}));
	const blockWrite = new Request('https://api.capacities.io/blocks/block', {method: 'PATCH', headers: {'content-type': 'application/json'}, body: JSON.stringify({blockId: 'victim-block'})});
	expect(learned.resolve(await toLaneRequest(blockWrite, true)).keys).toEqual(['objects/00000000-0000-4000-8000-000000000001']);
	prototypesUntouched();
});

// --- the CLI ------------------------------------------------------------------------------------

const bin = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));

async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<{code: number; output: string}> {
	try {
		const {stdout, stderr} = await promisify(execFile)(process.execPath, [bin, ...args], {timeout: 20_000, env: {...process.env, ...env}});
		return {code: 0, output: stdout + stderr};
	} catch (error) {
		const {code, stdout, stderr} = error as {code: number; stdout: string; stderr: string};
		return {code, output: `${stdout}${stderr}`};
	}
}

test.skipIf(!existsSync(bin))('security - the CLI never echoes a token it was given, whatever else is wrong', async () => {
	const busy = createServer();
	await new Promise<void>(resolve => {
		busy.listen(0, '127.0.0.1', resolve);
	});
	const {port} = busy.address() as {port: number};
	try {
		const runs = [
			['serve', '--token', secrets.token, '--port', String(port)],
			['serve', `--token=${secrets.token}`, '--port', String(port), '--host', '127.0.0.1'],
			['serve', '--token', `${secrets.token} with a space`],
			['serve', '--token', secrets.token, '--rate', 'fast'],
			['serve', '--token', secrets.token, '--bogus'],
			['demo', `--token=${secrets.token}`],
		];
		const results = await Promise.all(runs.map(args => cli(args)));
		for (const [index, {code, output}] of results.entries()) {
			evidence.add(`cli run ${index}`, output);
			expect(output).toMatch(/^writelane: /);
			expect(code).toBeGreaterThan(0);
		}
	} finally {
		busy.close();
	}

	expect(evidence.leaks()).toEqual([]);
}, 30_000);

const runBin = fileURLToPath(new URL('../dist/cli/run.js', import.meta.url));

test.skipIf(!existsSync(runBin))('security - `writelane run` with a token from the environment shows it nowhere: output, errors, journal', async () => {
	let n = 0;
	const server = await start({
		token: secrets.token,
		objects: 1,
		latency: 0,
		// Deterministic failures: a 503 on the first read, the first write applied and its connection reset.
		faults: request => {
			n++;
			return n === 1 ? 503 : request.method === 'PATCH' && n <= 3 ? 'reset-after' : undefined;
		},
	});
	const id = firstId(server);
	const directory = mkdtempSync(join(tmpdir(), 'writelane-security-'));
	try {
		const ops = join(directory, 'ops.ndjson');
		const journal = join(directory, 'ops.journal');
		const lines = [
			{method: 'GET', path: `/object?id=${id}&token=${secrets.query}`},
			{method: 'PATCH', path: `/object?token=${secrets.query}`, body: {id, properties: {}}},
			{method: 'GET', url: `${server.url}/object?id=${id}&token=${secrets.query}`},
		];
		writeFileSync(ops, lines.map(line => JSON.stringify(line)).join('\n'));
		const bad = join(directory, 'bad.ndjson');
		writeFileSync(bad, JSON.stringify({method: 'GET', url: `http://user:${secrets.password}@127.0.0.1:9/object?token=${secrets.query}`}));
		const runs = await Promise.all([
			cli(['run', ops, '--base-url', server.url, '--token-env', 'WL_SECRET', '--preset', 'capacities', '--journal', journal, '--json'], {WL_SECRET: secrets.token}),
			cli(['run', ops, '--base-url', server.url, '--token-env', 'WL_SECRET', '--preset', 'capacities'], {WL_SECRET: secrets.wrongToken}),
			cli(['run', bad, '--base-url', server.url, '--token-env', 'WL_SECRET'], {WL_SECRET: secrets.token}),
			cli(['run', ops, '--base-url', `http://user:${secrets.password}@127.0.0.1:9/?token=${secrets.query}`], {}),
		]);
		for (const [index, {code, output}] of runs.entries()) {
			evidence.add(`cli run ${index}`, output);
			expect(code).toBeGreaterThan(0);
		}

		evidence.add('journal', readFileSync(journal, 'utf8'));
		// The first run sent its operations: the guard above searched real output, not an early refusal.
		expect(runs[0]!.output).toMatch(/"type":"summary"/);
		expect(runs[1]!.output).toMatch(/401/);
	} finally {
		rmSync(directory, {recursive: true, force: true});
	}

	expect(evidence.leaks()).toEqual([]);
}, 30_000);
