import type {ServerResponse} from 'node:http';
import {afterEach, expect, test} from 'vitest';
import {capacities, createLanes, type LaneEvent, UncertainOutcomeError} from '../src/index.js';
import {deferred, startServer, type TestServer} from './http-helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
	await server?.close();
	server = undefined;
});

/** A server that answers each request only when the test says so. */
async function heldServer() {
	const held: Array<{line: string; response: ServerResponse}> = [];
	const arrived: Array<() => void> = [];
	server = await startServer((request, body, response) => {
		held.push({line: `${request.method} ${request.url}${body ? ` ${body}` : ''}`, response});
		arrived.shift()?.();
	});
	const waitFor = async (count: number) => {
		while (held.length < count) {
			const next = deferred();
			arrived.push(next.resolve);
			await next.promise;
		}
	};

	const answer = (index: number, status = 200, text = 'ok') => {
		held[index]!.response.writeHead(status, {'content-type': 'text/plain'}).end(text);
	};

	return {server, held, waitFor, answer};
}

test('lanes.fetch - writes to one resource reach the server one after another, in call order', async () => {
	const {server, held, waitFor, answer} = await heldServer();
	const lanes = createLanes();
	const first = lanes.fetch(`${server.url}/objects/1`, {method: 'PUT', body: 'a'});
	const second = lanes.fetch(`${server.url}/objects/1`, {method: 'PATCH', body: 'b'});
	const third = lanes.fetch(`${server.url}/objects/1`, {method: 'DELETE'});
	await waitFor(1);
	// The second write must not be on the wire while the first is unanswered.
	await new Promise(resolve => setImmediate(resolve));
	expect(held.map(entry => entry.line)).toEqual(['PUT /objects/1 a']);
	answer(0);
	expect(await (await first).text()).toBe('ok');
	await waitFor(2);
	expect(held.map(entry => entry.line)).toEqual(['PUT /objects/1 a', 'PATCH /objects/1 b']);
	answer(1);
	await second;
	await waitFor(3);
	answer(2);
	await third;
	expect(held.map(entry => entry.line)).toEqual(['PUT /objects/1 a', 'PATCH /objects/1 b', 'DELETE /objects/1']);
	await lanes.onIdle();
	expect(lanes.stats().lanes).toEqual([]);
});

test('lanes.fetch - GETs and writes to other resources do not wait for a held write', async () => {
	const {server, held, waitFor, answer} = await heldServer();
	// The first request is held on purpose: probing its bucket's quota would hold the others until it is answered.
	const lanes = createLanes({pacing: {probe: false}});
	const write = lanes.fetch(`${server.url}/objects/1`, {method: 'PUT', body: 'a'});
	const read = lanes.fetch(`${server.url}/objects/1`);
	const other = lanes.fetch(`${server.url}/objects/2`, {method: 'PUT', body: 'b'});
	await waitFor(3);
	expect(held.map(entry => entry.line).sort()).toEqual(['GET /objects/1', 'PUT /objects/1 a', 'PUT /objects/2 b']);
	answer(0);
	answer(1);
	answer(2);
	await Promise.all([write, read, other]);
});

test('lanes.fetch - two spellings of one resource share one lane', async () => {
	const {server, held, waitFor, answer} = await heldServer();
	const lanes = createLanes();
	const host = server.url.replace('127.0.0.1', '127.0.0.1');
	const first = lanes.fetch(`${host}/objects/abc`, {method: 'PUT', body: '1'});
	const second = lanes.fetch(`${host.toUpperCase().replace('HTTP', 'http')}//objects/./x/../%61bc/?ignored=1#frag`, {method: 'PUT', body: '2'});
	await waitFor(1);
	await new Promise(resolve => setImmediate(resolve));
	expect(held).toHaveLength(1);
	answer(0);
	await first;
	await waitFor(2);
	answer(1);
	await second;
	expect(held.map(entry => entry.line)).toEqual(['PUT /objects/abc 1', 'PUT //objects/%61bc/?ignored=1 2']);
});

test('lanes.wrapFetch() - accepts string, URL and Request inputs and a streaming body, and returns the Response untouched', async () => {
	server = await startServer((request, body, response) => {
		response.end(`${request.method} ${body}`);
	});
	const seen: Response[] = [];
	const lanes = createLanes();
	const laneFetch = lanes.wrapFetch(async (input, init) => {
		const response = await fetch(input, init);
		seen.push(response);
		return response;
	});
	const viaString = await laneFetch(`${server.url}/a`, {method: 'POST', body: 'text'});
	expect(viaString).toBe(seen[0]);
	expect(await viaString.text()).toBe('POST text');
	expect(await (await laneFetch(new URL('/a', server.url), {method: 'PUT', body: 'url'})).text()).toBe('PUT url');
	expect(await (await laneFetch(new Request(`${server.url}/a`, {method: 'PATCH', body: 'request'}))).text()).toBe('PATCH request');
	const stream = new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(new TextEncoder().encode('stre'));
			controller.enqueue(new TextEncoder().encode('amed'));
			controller.close();
		},
	});
	const streamed = await laneFetch(`${server.url}/a`, {method: 'POST', body: stream, duplex: 'half'} as RequestInit);
	expect(await streamed.text()).toBe('POST streamed');
});

test('lanes.fetch - aborting a queued request rejects with the reason and nothing reaches the server', async () => {
	const {server, held, waitFor, answer} = await heldServer();
	const lanes = createLanes();
	const controller = new AbortController();
	const first = lanes.fetch(`${server.url}/objects/1`, {method: 'PUT', body: 'a'});
	const aborted = lanes.fetch(`${server.url}/objects/1`, {method: 'PUT', body: 'b', signal: controller.signal});
	const third = lanes.fetch(`${server.url}/objects/1`, {method: 'PUT', body: 'c'});
	await waitFor(1);
	const reason = new Error('changed my mind');
	controller.abort(reason);
	await expect(aborted).rejects.toBe(reason);
	answer(0);
	await first;
	await waitFor(2);
	answer(1);
	await third;
	expect(held.map(entry => entry.line)).toEqual(['PUT /objects/1 a', 'PUT /objects/1 c']);
});

test('lanes.wrapFetch() - a PUT retried after 503 is not overtaken by the PUT queued behind it', async () => {
	let attempts = 0;
	server = await startServer((request, _body, response) => {
		if (request.url === '/objects/1' && request.method === 'PUT' && attempts++ === 0) {
			response.writeHead(503).end();
			return;
		}

		response.end('ok');
	});
	// A real delay gives the queued PUT every chance to slip in between the attempts.
	const lanes = createLanes({retry: {limit: 2, backoff: () => 20}});
	const laneFetch = lanes.wrapFetch(fetch);
	const retries: LaneEvent[] = [];
	lanes.on('retry', event => retries.push(event));
	const first = laneFetch(`${server.url}/objects/1`, {method: 'PUT', body: 'first'});
	const second = laneFetch(`${server.url}/objects/1`, {method: 'PUT', body: 'second'});
	expect((await first).status).toBe(200);
	expect((await second).status).toBe(200);
	expect(server.log).toEqual(['PUT /objects/1 first', 'PUT /objects/1 first', 'PUT /objects/1 second']);
	expect(retries).toMatchObject([{type: 'retry', attempt: 1, status: 503, delayMs: 20, keys: [expect.stringMatching(/\/objects\/1$/)]}]);
});

test('lanes.fetch - a network error on an idempotent write is retried inside the lane; on a POST it is not', async () => {
	let puts = 0;
	let posts = 0;
	server = await startServer((request, _body, response) => {
		if (request.method === 'PUT' && puts++ === 0) {
			response.socket?.destroy();
			return;
		}

		if (request.method === 'POST') {
			posts++;
			response.socket?.destroy();
			return;
		}

		response.end('ok');
	});
	const lanes = createLanes({retry: {backoff: () => 0}, uncertain: {policy: 'settle', graceMs: 0}});
	expect((await lanes.fetch(`${server.url}/objects/1`, {method: 'PUT', body: 'x'})).status).toBe(200);
	expect(puts).toBe(2);
	const error: unknown = await lanes.fetch(`${server.url}/objects/1`, {method: 'POST', body: 'x'}).catch((error_: unknown) => error_);
	// The POST may have been applied before the connection broke: the caller is told so.
	expect(error).toBeInstanceOf(UncertainOutcomeError);
	expect(error).toMatchObject({code: 'WL_UNCERTAIN', policy: 'settle', applied: undefined});
	expect((error as Error).cause).toBeInstanceOf(TypeError);
	expect(posts).toBe(1);
});

test('lanes.fetch - POST is retried after 503 only when the policy names it', async () => {
	let calls = 0;
	server = await startServer((_request, _body, response) => {
		response.writeHead(calls++ === 0 ? 503 : 201).end();
	});
	const strict = createLanes({retry: {backoff: () => 0}});
	expect((await strict.fetch(`${server.url}/blocks`, {method: 'POST', body: '{}'})).status).toBe(503);
	calls = 0;
	const optedIn = createLanes({retry: {backoff: () => 0, methods: ['POST']}});
	expect((await optedIn.fetch(`${server.url}/blocks`, {method: 'POST', body: '{}'})).status).toBe(201);
	expect(calls).toBe(2);
});

test('lanes.fetch - credentials and query strings never appear in events', async () => {
	server = await startServer((_request, _body, response) => {
		response.writeHead(503).end();
	});
	const lanes = createLanes({retry: {limit: 1, backoff: () => 0}});
	const events: LaneEvent[] = [];
	lanes.on('*', event => events.push(event));
	const response = await lanes.fetch(`${server.url}/objects/1?api_key=query-secret`, {
		method: 'PUT',
		body: 'body-secret',
		headers: {authorization: 'Bearer header-secret', cookie: 'session=cookie-secret'},
	});
	expect(response.status).toBe(503);
	const text = JSON.stringify(events);
	expect(events.map(event => event.type)).toEqual(['enqueue', 'start', 'retry', 'done', 'idle', 'idle']);
	expect(text).not.toMatch(/secret/);
	expect(events[0]).toMatchObject({request: {method: 'PUT', url: `${server.url}/objects/1`}});
});

test('lanes.fetch - an invalid URL rejects with a TypeError and leaves no lane behind', async () => {
	const lanes = createLanes();
	await expect(lanes.fetch('not a url')).rejects.toThrow(TypeError);
	expect(lanes.stats().lanes).toEqual([]);
});

test('lanes.fetch - a write whose body takes longer to read is still queued before a later write', async () => {
	const seen: string[] = [];
	const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		seen.push(await request.text());
		return new Response('{}');
	};

	const lanes = createLanes({keys: capacities()});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const release = deferred();
	const slowBody = new ReadableStream<Uint8Array>({
		async pull(controller) {
			await release.promise;
			controller.enqueue(new TextEncoder().encode('{"id":"a1","properties":{"n":1}}'));
			controller.close();
		},
	});
	const json = {'content-type': 'application/json'};
	const first = laneFetch('https://api.capacities.io/object', {method: 'PATCH', headers: json, body: slowBody, duplex: 'half'} as RequestInit);
	const second = laneFetch('https://api.capacities.io/object', {method: 'PATCH', headers: json, body: '{"id":"a1","properties":{"n":2}}'});
	const third = lanes.write('objects/a1', () => {
		seen.push('write()');
	});
	await new Promise(resolve => setImmediate(resolve));
	expect(seen).toEqual([]);
	release.resolve();
	await Promise.all([first, second, third]);
	expect(seen).toEqual(['{"id":"a1","properties":{"n":1}}', '{"id":"a1","properties":{"n":2}}', 'write()']);
});
