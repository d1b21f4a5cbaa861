import {afterEach, expect, expectTypeOf, test, vi} from 'vitest';
import {capacities, ConflictError, createLanes, etag, HttpError, isConflictError, type Lanes, type LaneEvent, type Preset} from '../src/index.js';
import type {Versioning} from '../src/keys/types.js';
import {Contention, defaultConflictBackoff} from '../src/occ/contention.js';
import {type LwwObject, type LwwServer, startLwwServer} from '../src/testing/index.js';
import {startServer, type TestServer} from './http-helpers.js';

let servers: Array<{close(): Promise<void>}> = [];
afterEach(async () => {
	vi.useRealTimers();
	vi.restoreAllMocks();
	await Promise.all(servers.map(async server => server.close()));
	servers = [];
});

type Account = {id: string; balance: number; version: number};

/**
A server that carries the version in the body and answers a stale one with 409, as many JSON APIs
do: `GET /accounts/1` → `{id, balance, version}`; `PUT /accounts/1` with `version` ≠ the stored one →
409 `{"error": "version_conflict"}`. `interfere` runs before each write is checked (another client).
*/
async function accountServer(interfere: (account: Account, writes: number) => void = () => undefined): Promise<TestServer & {account: Account}> {
	const account: Account = {id: '1', balance: 0, version: 1};
	let writes = 0;
	const server = await startServer((request, body, response) => {
		response.setHeader('content-type', 'application/json');
		if (request.method === 'GET') {
			response.end(JSON.stringify(account));
			return;
		}

		interfere(account, ++writes);
		const next = JSON.parse(body) as Account;
		if (next.version !== account.version) {
			response.writeHead(409).end(JSON.stringify({error: 'version_conflict', current: account.version}));
			return;
		}

		Object.assign(account, next, {version: account.version + 1});
		response.end(JSON.stringify(account));
	});
	servers.push(server);
	return Object.assign(server, {account});
}

/** The documented extension: `etag()` spread, with only `versioning` replaced by a body field. */
const accounts: Preset<Account> = {
	...etag(),
	versioning: {type: 'field', read: account => account.version, write: (body, version) => ({...body, version})},
};

test('etag() spread with a body-field `versioning` - a 409 to a stale version is a conflict: update() re-reads and re-applies', async () => {
	// Another client deposits 5 before our first write is checked.
	const server = await accountServer((account, writes) => {
		if (writes === 1) {
			account.balance += 5;
			account.version++;
		}
	});
	const lanes = createLanes({keys: accounts});
	const result = await lanes.update<Account>(`${server.url}/accounts/1`, account => ({...account, balance: account.balance + 10}), {method: 'PUT', conflictBackoff: () => 0});
	expect(result).toMatchObject({written: true, attempts: 2});
	expect(server.account).toMatchObject({balance: 15, version: 3});
	expect(server.log.filter(line => line.startsWith('PUT')).map(line => JSON.parse(line.slice(line.indexOf('{'))).version)).toEqual([1, 2]);
});

test.each([Number.NaN, Number.POSITIVE_INFINITY, -1])('update() - a conflictBackoff() that returns %s fails with a precise TypeError instead of waiting forever or not at all', async delay => {
	const server = await accountServer((account, writes) => {
		if (writes === 1) {
			account.version++;
		}
	});
	const lanes = createLanes({keys: accounts});
	await expect(lanes.update<Account>(`${server.url}/accounts/1`, account => ({...account, balance: 1}), {method: 'PUT', conflictBackoff: () => delay})).rejects.toThrow(
		new TypeError(`Expected \`conflictBackoff()\` to be a finite number of milliseconds >= 0, got \`${delay}\` (number)`),
	);
	expect(server.log.filter(line => line.startsWith('PUT'))).toHaveLength(1);
});

test('etag() - a 409 is a conflict, as its TSDoc promises; 428 and 400 are not', () => {
	const {isConflict} = etag();
	expect([409, 412, 428, 400].map(status => isConflict?.(status, undefined))).toEqual([true, true, false, false]);
});

test('Versioning and Preset are typed by the body of the resource: `read` and `write` see it, not `unknown`', () => {
	expectTypeOf<Parameters<Extract<Versioning<Account>, {type: 'field'}>['read']>[0]>().toEqualTypeOf<Account>();
	expectTypeOf<Parameters<Extract<Versioning<Account>, {type: 'field'}>['write']>[0]>().toEqualTypeOf<Account>();
	expectTypeOf<Preset<Account>['versioning']>().toEqualTypeOf<Versioning<Account> | undefined>();
	// A typed preset is still a preset for createLanes().
	expectTypeOf(accounts).toExtend<Preset>();
	const field = accounts.versioning as Extract<Versioning<Account>, {type: 'field'}>;
	expect(field.read({id: '1', balance: 0, version: 7})).toBe(7);
});

test('update() - an HttpError for a 409 that is not a conflict carries a short, scrubbed excerpt of the answer', async () => {
	const token = 'cap-api-very-secret-token-0123456789';
	const server = await startServer((request, _body, response) => {
		response.setHeader('content-type', 'application/json');
		if (request.method === 'GET') {
			response.end('{"metadata": {"name": "web"}}');
			return;
		}

		response.writeHead(409).end(JSON.stringify({kind: 'Status', reason: 'AlreadyExists', message: `deployments "web" already exists; you sent Bearer ${token}`, details: 'x'.repeat(500)}));
	});
	servers.push(server);
	const lanes = createLanes({keys: {...etag(), name: 'k8s-like', isConflict: (status, body) => status === 409 && (body as {reason?: string}).reason === 'Conflict'}});
	const error = await lanes
		.update(`${server.url}/deployments/web`, current => current, {method: 'PUT', headers: {authorization: `Bearer ${token}`}})
		.catch((error_: unknown) => error_);
	expect(error).toBeInstanceOf(HttpError);
	const {excerpt, status, message} = error as HttpError;
	expect(status).toBe(409);
	expect(excerpt).toMatch(/^\{"kind":"Status","reason":"AlreadyExists","message":"deployments \\"web\\" already exists; you sent \[redacted\]"/);
	expect(excerpt.length).toBeLessThanOrEqual(120);
	expect(message).toContain('AlreadyExists');
	expect(JSON.stringify({...(error as object), message, stack: (error as Error).stack})).not.toContain(token);
});

test('update() - the `retry` event reports the delay update() really waits, and does not fire for the last conflict (which is not retried)', async () => {
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout', 'Date']});
	let reads = 0;
	const lanes = createLanes();
	const events: LaneEvent[] = [];
	lanes.on('retry', event => events.push(event));
	const delays = [70, 130];
	const update = lanes
		.update('https://api.test/doc', current => current, {
			attempts: 3,
			conflictBackoff: attempt => delays[attempt - 1]!,
			async fetch(input, init) {
				const request = new Request(input, init);
				if (request.method === 'GET') {
					reads++;
					return new Response('{"n":1}', {headers: {etag: `"${reads}"`}});
				}

				return new Response('{"error":"stale"}', {status: 412});
			},
		})
		.catch((error: unknown) => error);
	await vi.advanceTimersByTimeAsync(69);
	expect(reads).toBe(1);
	await vi.advanceTimersByTimeAsync(1);
	expect(reads).toBe(2);
	await vi.advanceTimersByTimeAsync(129);
	expect(reads).toBe(2);
	await vi.advanceTimersByTimeAsync(1);
	expect(reads).toBe(3);
	expect(isConflictError(await update)).toBe(true);
	expect(events.map(event => event.type === 'retry' && [event.attempt, event.delayMs, event.status])).toEqual([
		[1, 70, 412],
		[2, 130, 412],
	]);
});

test('update() - the default conflictBackoff: the `retry` event says the delay, and the next read waits exactly that long', async () => {
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout', 'Date']});
	// A fixed draw: the first delay is the draw times one round trip (40 ms), here 20 ms. (A draw that
	// rounds to 0 ms would make the fake clock fire the timer 1 ms late: a 0 ms timer set while it
	// runs timers is due 1 ms later.)
	vi.spyOn(Math, 'random').mockReturnValue(0.5);
	const reads: number[] = [];
	const lanes = createLanes();
	const events: Array<{delayMs: number}> = [];
	lanes.on('retry', event => events.push(event));
	const update = lanes
		.update('https://api.test/doc', current => current, {
			attempts: 2,
			async fetch(input, init) {
				const request = new Request(input, init);
				if (request.method === 'GET') {
					reads.push(Date.now());
					return new Response('{"n":1}', {headers: {etag: `"${reads.length}"`}});
				}

				// The write takes 40 ms: one round trip is 40 ms.
				await new Promise(resolve => setTimeout(resolve, 40));
				return new Response('{}', {status: 412});
			},
		})
		.catch((error: unknown) => error);
	await vi.advanceTimersByTimeAsync(40);
	expect(events).toHaveLength(1);
	const [{delayMs}] = events as [{delayMs: number}];
	expect(delayMs).toBe(20);
	await vi.advanceTimersByTimeAsync(delayMs + 40);
	expect(await update).toBeInstanceOf(ConflictError);
	expect(reads[1]! - reads[0]!).toBe(40 + delayMs);
	expect(events).toHaveLength(1);
});

test('update() - `writeHeaders` go on the write only, `headers` on both; a content type given there is kept', async () => {
	const seen: string[] = [];
	const lanes = createLanes();
	await lanes.update('https://api.test/blob', current => current, {
		method: 'PUT',
		headers: {authorization: 'Bearer t', 'x-api-version': '2'},
		writeHeaders: {'x-ms-blob-type': 'BlockBlob', 'content-type': 'application/merge-patch+json'},
		async fetch(input, init) {
			const request = new Request(input, init);
			const names = ['authorization', 'x-api-version', 'x-ms-blob-type', 'content-type'];
			seen.push(`${request.method} ${names.map(name => `${name}=${request.headers.get(name)}`).join(' ')}`);
			return new Response('{"a":1}');
		},
	});
	expect(seen).toEqual([
		'GET authorization=Bearer t x-api-version=2 x-ms-blob-type=null content-type=null',
		'PUT authorization=Bearer t x-api-version=2 x-ms-blob-type=BlockBlob content-type=application/merge-patch+json',
	]);
	await expect(lanes.update('https://api.test/blob', current => current, {writeHeaders: 5 as unknown as HeadersInit})).rejects.toThrow(
		'Expected `writeHeaders` to be headers (a `Headers`, an array of name-value pairs or an object of strings), got `5` (number)',
	);
});

test('defaultConflictBackoff() - decorrelated jitter in round trips: [0, 1] round trip first, then [½ round trip, 3 × previous], capped at 4 round trips and 2 s', () => {
	const at = (value: number) => () => value;
	expect(defaultConflictBackoff(1, {roundTripMs: 40, previousDelayMs: 0}, at(0))).toBe(0);
	expect(defaultConflictBackoff(1, {roundTripMs: 40, previousDelayMs: 0}, at(0.999))).toBe(40);
	expect(defaultConflictBackoff(2, {roundTripMs: 40, previousDelayMs: 30}, at(0))).toBe(20);
	expect(defaultConflictBackoff(2, {roundTripMs: 40, previousDelayMs: 30}, at(0.999))).toBe(90);
	expect(defaultConflictBackoff(5, {roundTripMs: 40, previousDelayMs: 150}, at(0.999))).toBe(160);
	expect(defaultConflictBackoff(5, {roundTripMs: 5000, previousDelayMs: 5000}, at(0.999))).toBe(2000);
});

test('Contention - a key is contended for a while after a conflict: a random gap of up to one round trip, then none; memory stays bounded', () => {
	const contention = new Contention();
	expect(contention.courtesy('a', 0, () => 0.999)).toBe(0);
	contention.conflict('a', 40, 0);
	expect(contention.courtesy('a', 10, () => 0.5)).toBe(20);
	expect(contention.courtesy('a', 999, () => 1)).toBe(40);
	expect(contention.courtesy('a', 1000, () => 1)).toBe(0);
	expect(contention.size).toBe(0);
	for (let index = 0; index < 5000; index++) {
		contention.conflict(`k${index}`, 10, index);
	}

	expect(contention.size).toBeLessThanOrEqual(1000);
	expect(contention.courtesy('k4999', 5000, () => 1)).toBe(10);
});

/** Capacities keys with the reference server's `version` field as the precondition. */
const versioned: Preset<{version?: number}> = {
	...capacities(),
	versioning: {type: 'field', read: resource => resource.version, write: (body, version) => ({...(body as object), version})},
};

const counterOf = (object: LwwObject | undefined) => (object?.properties.counter as {number: number} | undefined)?.number ?? 0;

/** Two uncoordinated clients, `updates` increments each of one counter, with update()'s defaults. */
async function race(server: LwwServer, mode: 'etag' | 'version', updates: number) {
	const [id] = server.objectIds as [string];
	const before = counterOf(server.object(id));
	const clients: Lanes[] = [0, 1].map(() => createLanes({keys: mode === 'version' ? versioned : capacities()}));
	const outcomes = await Promise.all(
		clients.flatMap(lanes =>
			Array.from({length: updates}, async () =>
				lanes
					.update<LwwObject, unknown>(`${server.url}/object?id=${id}`, current => ({id, properties: {counter: {type: 'number', number: counterOf(current) + 1}}}), {
						writeUrl: `${server.url}/object`,
						headers: {authorization: `Bearer ${server.token}`},
					})
					.then(
						result => result.attempts,
						(error: unknown) => error,
					),
			),
		),
	);
	return {outcomes, added: counterOf(server.object(id)) - before};
}

test.each(['etag', 'version'] as const)(
	"update() defaults hold for two uncoordinated writers racing on one hot resource ('%s' mode): no ConflictError, nothing lost (shortened bench/conflict-race.js)",
	async mode => {
		for (let run = 1; run <= 3; run++) {
			// The server's default latency (5 to 30 ms per request), as in the benchmark.
			const server = await startLwwServer({objects: 1, mode, seed: run});
			servers.push(server);
			const {outcomes, added} = await race(server, mode, 15);
			expect(outcomes.filter(outcome => typeof outcome !== 'number')).toEqual([]);
			expect(added).toBe(30);
			expect(server.report().conflicts).toBeGreaterThan(0);
		}
	},
	60_000,
);
