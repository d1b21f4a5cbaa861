import ky from 'ky';
import {afterEach, expect, test, vi} from 'vitest';
import {capacities, createLanes, isUncertainOutcomeError, type Lanes, type Preset, square, UncertainOutcomeError} from '../src/index.js';
import type {LaneRequest} from '../src/keys/types.js';
import type {LwwServer} from '../src/testing/index.js';
import {flush} from './helpers.js';
import {call, firstId, start, stored} from './server-helpers.js';

afterEach(() => {
	vi.useRealTimers();
});

/** Lets the event loop turn until `condition()` holds (the server applies a released write in a few turns). */
async function until(condition: () => boolean, turns = 1000): Promise<void> {
	for (let turn = 0; turn < turns && !condition(); turn++) {
		await flush();
	}

	expect(condition()).toBe(true);
}

function timeoutError(): DOMException {
	return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

/** `PATCH /object` setting one number property, the Capacities way. */
function patch(lanes: Lanes, server: LwwServer, id: string, property: string, init: RequestInit = {}): Promise<Response> {
	return lanes.fetch(`${server.url}/object`, {
		method: 'PATCH',
		headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined)},
		body: JSON.stringify({id, properties: {[property]: {type: 'number', number: 1}}}),
		...(init.signal ? {signal: init.signal} : {}),
	});
}

const properties = (server: LwwServer, id: string) => Object.keys(stored(server, id).properties);

/**
After a write of property `a` timed out in flight (held by `release`): the server has it once and
applies it now, after its caller gave up; the lane's next write (`later`, property `b`) goes out only
once the 1 s grace period has passed, so both changes stay. Resolves with `later`'s result.
*/
async function appliedLateThenNext<T>(server: LwwServer, id: string, release: () => void, later: Promise<T>): Promise<T> {
	await flush();
	expect(server.report().requests.PATCH).toBe(1);
	const version = server.version(id)!;
	release();
	await until(() => server.version(id) === version + 1);
	expect(server.report().requests.PATCH).toBe(1);
	await vi.advanceTimersByTimeAsync(1000);
	const result = await later;
	expect(properties(server, id)).toEqual(expect.arrayContaining(['a', 'b']));
	return result;
}

test("lanes.fetch - a write its caller timed out after sending is uncertain: UncertainOutcomeError (cause: the TimeoutError) at once, and the lane's next write waits the grace period, so the server's late application does not overwrite it", async () => {
	const server = await start({objects: 1, latency: 0});
	const id = firstId(server);
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']});
	const lanes = createLanes({keys: capacities(), uncertain: {policy: 'settle', graceMs: 1000}});
	const release = server.hold();
	const controller = new AbortController();
	const timedOut = patch(lanes, server, id, 'a', {signal: controller.signal}).catch((error: unknown) => error);
	await server.whenInFlight(1);
	const later = patch(lanes, server, id, 'b');
	const reason = timeoutError();
	controller.abort(reason);

	const error = await timedOut;
	expect(error).toBeInstanceOf(UncertainOutcomeError);
	expect(error).toMatchObject({code: 'WL_UNCERTAIN', policy: 'settle', applied: undefined, key: `objects/${id}`});
	expect((error as Error).cause).toBe(reason);
	expect((error as Error).message).toMatch(/was aborted by its caller after it was sent/);
	expect((await appliedLateThenNext(server, id, release, later)).status).toBe(200);
	expect(server.report().overlaps).toBe(0);
});

test("lanes.fetch - without the grace period, a timed-out write the server applies late overwrites the next write (what 'settle' prevents)", async () => {
	const server = await start({objects: 1, latency: 0});
	const id = firstId(server);
	const lanes = createLanes({keys: capacities(), uncertain: {policy: 'settle', graceMs: 0}});
	// The first write waits 300 ms in the server, far longer than the second one needs.
	server.injectFaults([{slow: 300}]);
	const controller = new AbortController();
	const timedOut = patch(lanes, server, id, 'a', {signal: controller.signal}).catch((error: unknown) => error);
	await server.whenInFlight(1);
	controller.abort(timeoutError());
	expect(isUncertainOutcomeError(await timedOut)).toBe(true);
	expect((await patch(lanes, server, id, 'b')).status).toBe(200);
	expect(properties(server, id)).toContain('b');
	// Its wait is real time: many turns.
	await until(() => server.inFlight === 0, 1_000_000);
	// The late write put back the object as it had read it, before 'b'.
	expect(properties(server, id)).toContain('a');
	expect(properties(server, id)).not.toContain('b');
});

test("wrapKy() - a write ky timed out (its `timeout`) after sending is uncertain: UncertainOutcomeError with ky's TimeoutError as cause, and the lane's next write waits out the late application", async () => {
	const server = await start({objects: 1, latency: 0});
	const id = firstId(server);
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']});
	const lanes = createLanes({keys: capacities()});
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, headers: {authorization: `Bearer ${server.token}`}, retry: 0}));
	const set = (property: string, timeout: number | false) => api.patch('object', {json: {id, properties: {[property]: {type: 'number', number: 1}}}, timeout}).json();
	const release = server.hold();
	const timedOut = set('a', 50).catch((error: unknown) => error);
	await server.whenInFlight(1);
	const later = set('b', false);
	await vi.advanceTimersByTimeAsync(50);

	const error = await timedOut;
	expect(error).toMatchObject({name: 'UncertainOutcomeError', code: 'WL_UNCERTAIN', policy: 'settle', key: `objects/${id}`});
	expect((error as Error).cause).toMatchObject({name: 'TimeoutError'});
	expect(await appliedLateThenNext(server, id, release, later)).toMatchObject({id});
	await lanes.onIdle();
	expect(lanes.stats().lanes).toEqual([]);
});

test("wrapKy() - answered calls are untouched: ky's HTTPError for a 4xx, body shortcuts, and no grace period after them", async () => {
	const server = await start({objects: 1, latency: 0});
	const id = firstId(server);
	const lanes = createLanes({keys: capacities(), uncertain: {policy: 'settle', graceMs: 60_000}});
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, headers: {authorization: `Bearer ${server.token}`}, retry: 0}));
	const missing = await api.patch('object', {json: {id: '00000000-0000-4000-8000-000000000000', properties: {}}}).catch((error: unknown) => error);
	expect(missing).toMatchObject({name: 'HTTPError', response: {status: 404}});
	expect(await api.get(`object?id=${id}`).json()).toMatchObject({id});
	expect(await api.patch('object', {json: {id, properties: {a: {type: 'number', number: 1}}}}).text()).toContain(id);
});

test('update() - a write aborted by its caller after it was sent is uncertain; the next update() of the lane reads after the late application', async () => {
	const server = await start({objects: 1, latency: 0});
	const id = firstId(server);
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']});
	const lanes = createLanes({keys: capacities()});
	let release: (() => void) | undefined;
	const increment = (signal?: AbortSignal) =>
		lanes.update<{properties: Record<string, {number: number}>}>(
			`${server.url}/object?id=${id}`,
			current => {
				// The write of the first update is held in the server (after it read the object).
				release ??= server.hold();
				return {id, properties: {counter: {type: 'number', number: (current.properties.counter?.number ?? 0) + 1}}};
			},
			{writeUrl: `${server.url}/object`, headers: {authorization: `Bearer ${server.token}`}, ...(signal ? {signal} : {})},
		);
	const before = (stored(server, id).properties.counter as {number: number} | undefined)?.number ?? 0;
	const controller = new AbortController();
	const timedOut = increment(controller.signal).catch((error: unknown) => error);
	await until(() => server.inFlight === 1 && server.report().requests.PATCH === 1);
	const next = increment();
	const reason = timeoutError();
	controller.abort(reason);
	const error = await timedOut;
	expect(error).toMatchObject({name: 'UncertainOutcomeError', policy: 'settle'});
	expect((error as Error).cause).toBe(reason);
	release!();
	await until(() => server.inFlight === 0);
	expect(server.report().requests.GET).toBe(1);
	await vi.advanceTimersByTimeAsync(1000);
	expect((await next).written).toBe(true);
	expect((stored(server, id).properties.counter as unknown as {number: number}).number).toBe(before + 2);
});

test("uncertain: 'verify' - capacities() reads a PATCH /object back with GET /object?id=…, so `applied` is known where the API versions (ETag mode)", async () => {
	const server = await start({objects: 1, latency: 0, mode: 'etag'});
	const id = firstId(server);
	const lanes = createLanes({keys: capacities(), uncertain: {policy: 'verify', graceMs: 0}});
	const read = await call(server, 'GET', `/object?id=${id}`);
	const etag = read.headers.get('etag')!;

	server.reset();
	server.injectFaults(['reset-after']);
	const applied = await patch(lanes, server, id, 'a', {headers: {'if-match': etag}}).catch((error: unknown) => error);
	expect(applied).toMatchObject({code: 'WL_UNCERTAIN', policy: 'verify', applied: true});
	expect((applied as Error).message).toMatch(/failed in transit and was applied/);
	expect(server.report().log.map(entry => `${entry.method} ${entry.path} ${entry.status}`)).toEqual(['PATCH /object 0', 'GET /object 200']);

	const current = (await call(server, 'GET', `/object?id=${id}`)).headers.get('etag')!;
	server.injectFaults(['reset-before']);
	const notApplied = await patch(lanes, server, id, 'b', {headers: {'if-match': current}}).catch((error: unknown) => error);
	expect(notApplied).toMatchObject({code: 'WL_UNCERTAIN', policy: 'verify', applied: false});
	expect(properties(server, id)).not.toContain('b');
});

test("uncertain: 'verify' - with the version in the body ('version' mode), a versioned capacities preset knows `applied` too", async () => {
	const server = await start({objects: 1, latency: 0, mode: 'version'});
	const id = firstId(server);
	const versioned: Preset<{version?: number}> = {
		...capacities(),
		versioning: {type: 'field', read: resource => resource.version, write: (body, version) => ({...body, version})},
	};
	const lanes = createLanes({keys: versioned, uncertain: {policy: 'verify', graceMs: 0}});
	server.injectFaults(['reset-after']);
	const error = await lanes
		.fetch(`${server.url}/object`, {
			method: 'PATCH',
			headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json'},
			body: JSON.stringify({id, version: server.version(id), properties: {a: {type: 'number', number: 1}}}),
		})
		.catch((error_: unknown) => error_);
	expect(error).toMatchObject({code: 'WL_UNCERTAIN', applied: true});
});

test("uncertain: 'verify' - when the first re-read does not show the write, it waits graceMs and reads again (a write still in the server's hands may land)", async () => {
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']});
	let version = 1;
	const seen: string[] = [];
	const lanes = createLanes({retry: false, uncertain: {policy: 'verify', graceMs: 500}});
	const laneFetch = lanes.wrapFetch(async (input, init) => {
		const request = new Request(input, init);
		seen.push(`${request.method} ${new URL(request.url).pathname}`);
		if (request.method === 'PUT') {
			throw new TypeError('fetch failed');
		}

		return new Response('{}', {headers: {etag: `"${version}"`}});
	});
	const failed = laneFetch('https://api.test/o/1', {method: 'PUT', body: '{}', headers: {'if-match': '"1"'}}).catch((error: unknown) => error);
	await vi.advanceTimersByTimeAsync(0);
	// Re-read once: not applied yet.
	expect(seen).toEqual(['PUT /o/1', 'GET /o/1']);
	version = 2;
	await vi.advanceTimersByTimeAsync(500);
	expect(await failed).toMatchObject({applied: true});
	expect(seen).toEqual(['PUT /o/1', 'GET /o/1', 'GET /o/1']);
});

test('a caller abort while a PUT waits to be retried after a transport failure is uncertain too (the failed attempt may still land)', async () => {
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']});
	const seen: string[] = [];
	const lanes = createLanes({retry: {backoff: () => 1000}, uncertain: 'fail'});
	const laneFetch = lanes.wrapFetch(async (input, init) => {
		const request = new Request(input, init);
		seen.push(`${request.method} ${await request.text()}`);
		if (seen.length === 1) {
			throw new TypeError('fetch failed');
		}

		return new Response('{}');
	});
	const controller = new AbortController();
	const first = laneFetch('https://api.test/o/1', {method: 'PUT', body: '1', signal: controller.signal}).catch((error: unknown) => error);
	const queued = laneFetch('https://api.test/o/1', {method: 'PUT', body: '2'}).catch((error: unknown) => error);
	await vi.advanceTimersByTimeAsync(10);
	expect(seen).toEqual(['PUT 1']);
	const reason = timeoutError();
	controller.abort(reason);
	const error = await first;
	expect(error).toMatchObject({code: 'WL_UNCERTAIN', policy: 'fail'});
	expect((error as Error).cause).toBe(reason);
	expect(await queued).toMatchObject({code: 'WL_UNCERTAIN', policy: 'fail'});
	expect(seen).toEqual(['PUT 1']);
});

test('an abort before the write was sent is not uncertain: it rejects with the reason and the next write goes at once', async () => {
	vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout']});
	const seen: string[] = [];
	let answer: (() => void) | undefined;
	const lanes = createLanes({concurrency: 1});
	const laneFetch = lanes.wrapFetch(async (input, init) => {
		const request = new Request(input, init);
		seen.push(`${request.method} ${new URL(request.url).pathname}`);
		if (seen.length === 1) {
			await new Promise<void>(resolve => {
				answer = resolve;
			});
		}

		return new Response('{}');
	});
	const busy = laneFetch('https://api.test/other', {method: 'PUT', body: '0'});
	await vi.advanceTimersByTimeAsync(0);
	const controller = new AbortController();
	// Waits for the only global slot, so it is never sent.
	const waiting = laneFetch('https://api.test/o/1', {method: 'PATCH', body: '1', signal: controller.signal}).catch((error: unknown) => error);
	const next = laneFetch('https://api.test/o/1', {method: 'PATCH', body: '2'});
	await vi.advanceTimersByTimeAsync(0);
	const reason = timeoutError();
	controller.abort(reason);
	expect(await waiting).toBe(reason);
	answer!();
	await busy;
	await next;
	expect(seen).toEqual(['PUT /other', 'PATCH /o/1']);
});

test('capacities().readUrl - a write that names one object is read back at GET /object?id=…; creations and unknown targets are not', () => {
	const preset = capacities();
	const request = (method: string, url: string, body?: unknown): LaneRequest => ({method, url: new URL(url), headers: new Headers(), body});
	const id = 'C0FFEE00-0000-4000-8000-000000000001';
	const location = (value: LaneRequest) => preset.readUrl?.(value)?.toString();
	expect(location(request('PATCH', 'https://api.capacities.io/object', {id}))).toBe(`https://api.capacities.io/object?id=${id}`);
	expect(location(request('PATCH', 'https://api.capacities.io/object/markdown', {id, markdown: 'x'}))).toBe(`https://api.capacities.io/object?id=${id}`);
	expect(location(request('POST', 'https://api.capacities.io/blocks/append', {id, blocks: []}))).toBe(`https://api.capacities.io/object?id=${id}`);
	expect(location(request('DELETE', `https://api.capacities.io/object?id=${id}`))).toBe(`https://api.capacities.io/object?id=${id}`);
	expect(location(request('PATCH', 'https://api.capacities.io/blocks/block', {objectId: id, blockId: 'b1'}))).toBe(`https://api.capacities.io/object?id=${id.toLowerCase()}`);
	expect(location(request('PATCH', 'https://api.capacities.io/blocks/block', {blockId: 'unknown'}))).toBeUndefined();
	expect(location(request('POST', 'https://api.capacities.io/object', {structureId: 's'}))).toBeUndefined();
	expect(location(request('PATCH', 'https://api.capacities.io/object', {}))).toBeUndefined();
});

test("square() - an upsert of a catalog object is read back at GET /v2/catalog/object/<id>, so 'verify' knows whether its version moved", async () => {
	const seen: string[] = [];
	const lanes = createLanes({keys: square(), uncertain: {policy: 'verify', graceMs: 0}});
	const laneFetch = lanes.wrapFetch(async (input, init) => {
		const request = new Request(input, init);
		seen.push(`${request.method} ${new URL(request.url).pathname} ${request.headers.get('authorization')}`);
		if (request.method === 'POST') {
			throw new TypeError('fetch failed');
		}

		return new Response(JSON.stringify({object: {id: 'ITEM1', type: 'ITEM', version: 6}}), {headers: {'content-type': 'application/json'}});
	});
	const error = await laneFetch('https://connect.squareup.com/v2/catalog/object', {
		method: 'POST',
		headers: {authorization: 'Bearer sq', 'content-type': 'application/json'},
		body: JSON.stringify({idempotency_key: 'k1', object: {id: 'ITEM1', type: 'ITEM', version: 5}}),
	}).catch((error_: unknown) => error_);
	expect(error).toMatchObject({code: 'WL_UNCERTAIN', applied: true});
	expect(seen).toEqual(['POST /v2/catalog/object Bearer sq', 'GET /v2/catalog/object/ITEM1 Bearer sq']);
	const request = (method: string, url: string, body?: unknown): LaneRequest => ({method, url: new URL(url), headers: new Headers(), body});
	expect(square().readUrl?.(request('POST', 'https://connect.squareup.com/v2/catalog/object', {object: {id: '#new'}}))).toBeUndefined();
	expect(square().readUrl?.(request('PUT', 'https://connect.squareup.com/v2/orders/O1', {order: {version: 2}}))).toBeUndefined();
});
