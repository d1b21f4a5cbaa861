import type {ServerResponse} from 'node:http';
import ky, {HTTPError} from 'ky';
import {afterEach, expect, test} from 'vitest';
import {createLanes} from '../src/index.js';
import {deferred, startServer, type TestServer} from './http-helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
	await server?.close();
	server = undefined;
});

test('wrapKy() - writes to one resource run one after another; GETs do not wait', async () => {
	const held: ServerResponse[] = [];
	const arrivals: Array<() => void> = [];
	server = await startServer((_request, _body, response) => {
		held.push(response);
		arrivals.shift()?.();
	});
	const arrived = async (count: number) => {
		while (held.length < count) {
			const next = deferred();
			arrivals.push(next.resolve);
			await next.promise;
		}
	};

	// The first request is held on purpose: probing its bucket's quota would hold the others until it is answered.
	const lanes = createLanes({pacing: {probe: false}});
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, retry: 0}));
	const first = api.put('objects/1', {json: {n: 1}}).json();
	const second = api.patch('objects/1', {json: {n: 2}}).json();
	const read = api.get('objects/1').json();
	await arrived(2);
	await new Promise(resolve => setImmediate(resolve));
	expect([...server.log].sort()).toEqual(['GET /objects/1', 'PUT /objects/1 {"n":1}']);
	const putIndex = server.log.indexOf('PUT /objects/1 {"n":1}');
	held[putIndex]!.writeHead(200, {'content-type': 'application/json'}).end('{"ok":1}');
	held[1 - putIndex]!.writeHead(200, {'content-type': 'application/json'}).end('{"read":true}');
	expect(await first).toEqual({ok: 1});
	expect(await read).toEqual({read: true});
	await arrived(3);
	expect(server.log[2]).toBe('PATCH /objects/1 {"n":2}');
	held[2]!.writeHead(200, {'content-type': 'application/json'}).end('{"ok":2}');
	expect(await second).toEqual({ok: 2});
	await lanes.onIdle();
	expect(lanes.stats().lanes).toEqual([]);
});

test("wrapKy() - ky's own retries of a PUT after 503 happen before the PUT queued behind it", async () => {
	let attempts = 0;
	server = await startServer((request, _body, response) => {
		if (request.method === 'PUT' && request.url === '/objects/1' && attempts++ === 0) {
			response.writeHead(503).end();
			return;
		}

		response.end('{}');
	});
	const lanes = createLanes();
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, retry: {limit: 2, delay: () => 20}}));
	const first = api.put('objects/1', {json: 'first'});
	const second = api.put('objects/1', {json: 'second'});
	await Promise.all([first, second]);
	expect(server.log).toEqual(['PUT /objects/1 "first"', 'PUT /objects/1 "first"', 'PUT /objects/1 "second"']);
});

test('without lanes - a ky retry lands after the next write and overwrites it (the hazard wrapKy prevents)', async () => {
	let attempts = 0;
	const secondArrived = deferred();
	server = await startServer((request, body, response) => {
		if (body === '"second"') {
			secondArrived.resolve();
		}

		if (request.method === 'PUT' && attempts++ === 0) {
			response.writeHead(503).end();
			return;
		}

		response.end('{}');
	});
	const api = ky.create({
		prefixUrl: server.url,
		retry: {limit: 2, delay: () => 0},
		hooks: {beforeRetry: [async () => secondArrived.promise]},
	});
	await Promise.all([api.put('objects/1', {json: 'first'}), api.put('objects/1', {json: 'second'})]);
	expect(server.log).toEqual(['PUT /objects/1 "first"', 'PUT /objects/1 "second"', 'PUT /objects/1 "first"']);
});

test('wrapKy() - the lane is released when ky gives up with an HTTPError', async () => {
	server = await startServer((request, _body, response) => {
		response.writeHead(request.method === 'DELETE' ? 404 : 200).end('{}');
	});
	const lanes = createLanes();
	const api = lanes.wrapKy(ky.create({prefixUrl: server.url, retry: 0}));
	await expect(api.delete('objects/1')).rejects.toBeInstanceOf(HTTPError);
	expect(await api.put('objects/1', {json: {}}).json()).toEqual({});
	await lanes.onIdle();
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0, lanes: []});
});

test('wrapKy() - extend() and create() return wrapped instances that keep their fetch', async () => {
	server = await startServer((_request, _body, response) => {
		response.end('{"ok":true}');
	});
	let customFetchCalls = 0;
	const base = ky.create({
		prefixUrl: server.url,
		fetch: async (input, init) => {
			customFetchCalls++;
			return fetch(input, init);
		},
	});
	const lanes = createLanes();
	const seen: string[] = [];
	lanes.on('start', event => seen.push(event.keys.join(',')));
	const api = lanes.wrapKy(base).extend({headers: {'x-extra': '1'}});
	expect(await api.get('objects/7').json()).toEqual({ok: true});
	expect(customFetchCalls).toBe(1);
	expect(seen).toEqual([expect.stringMatching(/\/objects\/7$/)]);
});

test('wrapKy() - rejects something that is not a ky instance', () => {
	const lanes = createLanes();
	expect(() => lanes.wrapKy({} as never)).toThrow('Expected `ky` to be a ky instance, got `[Object]` (object)');
});

test('writelane/ky - wrapKy(lanes, ky) is lanes.wrapKy(ky)', async () => {
	const {wrapKy} = await import('../src/ky.js');
	server = await startServer((_request, _body, response) => {
		response.end('{"via":"subpath"}');
	});
	const lanes = createLanes();
	const starts: string[] = [];
	lanes.on('start', event => starts.push(event.keys.join()));
	const api = wrapKy(lanes, ky.create({prefixUrl: server.url}));
	expect(await api.put('objects/9', {json: {}}).json()).toEqual({via: 'subpath'});
	expect(starts).toEqual([expect.stringMatching(/\/objects\/9$/)]);
});
