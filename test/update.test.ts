import {afterEach, expect, test} from 'vitest';
import {createLanes, HttpError, isHttpError} from '../src/index.js';
import {startServer, type TestServer} from './http-helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
	await server?.close();
	server = undefined;
});

/** A last-write-wins JSON store: every request waits a little, so concurrent read-modify-writes interleave. */
async function lwwStore(latencyMs = 5) {
	const documents = new Map<string, unknown>([['/counters/1', {count: 0, tags: []}]]);
	server = await startServer(async (request, body, response) => {
		const path = new URL(request.url!, 'http://x').pathname;
		const id = new URL(request.url!, 'http://x').searchParams.get('id');
		const key = id ? `/counters/${id}` : path;
		await new Promise(resolve => setTimeout(resolve, latencyMs));
		if (request.headers.authorization !== 'Bearer token') {
			response.writeHead(401).end('{"code":"unauthorized"}');
			return;
		}

		if (request.method === 'GET') {
			if (!documents.has(key)) {
				response.writeHead(404).end('{}');
				return;
			}

			response.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify(documents.get(key)));
			return;
		}

		const parsed = JSON.parse(body) as {id?: string};
		documents.set(parsed.id ? `/counters/${parsed.id}` : key, parsed);
		response.writeHead(200, {'content-type': 'application/json'}).end(body);
	});
	return {server, documents};
}

const headers = {authorization: 'Bearer token'};

test('update() - concurrent read-modify-writes through one lanes instance lose nothing', async () => {
	const {server, documents} = await lwwStore();
	const lanes = createLanes();
	await Promise.all(
		Array.from({length: 20}, () => lanes.update<{count: number}>(`${server.url}/counters/1`, current => ({...current, count: current.count + 1}), {method: 'PUT', headers})),
	);
	expect(documents.get('/counters/1')).toMatchObject({count: 20});
});

test('without lanes - the same concurrent read-modify-writes lose updates (the hazard update() prevents)', async () => {
	const {server, documents} = await lwwStore();
	await Promise.all(
		Array.from({length: 20}, async () => {
			const current = (await (await fetch(`${server.url}/counters/1`, {headers})).json()) as {count: number};
			await fetch(`${server.url}/counters/1`, {method: 'PUT', headers, body: JSON.stringify({...current, count: current.count + 1})});
		}),
	);
	expect((documents.get('/counters/1') as {count: number}).count).toBeLessThan(20);
});

test('update() - returns what was written and the response; `undefined` from mutate writes nothing', async () => {
	const {server} = await lwwStore(0);
	const lanes = createLanes();
	const written = await lanes.update<{count: number}>(`${server.url}/counters/1`, current => ({...current, count: 5}), {method: 'PUT', headers});
	expect(written.written).toBe(true);
	expect(written.value).toMatchObject({count: 5});
	expect(await written.response.json()).toMatchObject({count: 5});
	const skipped = await lanes.update(`${server.url}/counters/1`, () => undefined, {headers});
	expect(skipped.written).toBe(false);
	expect(skipped.value).toMatchObject({count: 5});
	expect(server.log.filter(line => !line.startsWith('GET'))).toHaveLength(1);
});

test('update() - reads one URL and writes another (ids in the query for reads, in the body for writes)', async () => {
	const {server, documents} = await lwwStore(0);
	const lanes = createLanes();
	await lanes.update<{id?: string; count: number}>(`${server.url}/object?id=1`, current => ({...current, id: '1', count: 9}), {
		method: 'PATCH',
		writeUrl: `${server.url}/object`,
		headers,
	});
	expect(documents.get('/counters/1')).toMatchObject({id: '1', count: 9});
	expect(server.log).toEqual(['GET /object?id=1', 'PATCH /object {"count":9,"tags":[],"id":"1"}']);
});

test('update() - a failed read rejects with HttpError carrying status and key but no credentials or query', async () => {
	const {server} = await lwwStore(0);
	const lanes = createLanes();
	const error: unknown = await lanes
		.update(`${server.url}/counters/404?api_key=secret-value`, current => current, {headers: {authorization: 'Bearer secret-token'}})
		.catch((error_: unknown) => error_);
	expect(error).toBeInstanceOf(HttpError);
	expect(isHttpError(error)).toBe(true);
	expect(error).toMatchObject({status: 401, code: 'WL_HTTP', request: `GET ${server.url}/counters/404`});
	expect(JSON.stringify({...(error as object), message: (error as Error).message})).not.toMatch(/secret/);
});

test('update() - validates its arguments', async () => {
	const lanes = createLanes();
	await expect(lanes.update('https://api.test/x', 'nope' as never)).rejects.toThrow('Expected `mutate` to be a function, got `"nope"` (string)');
	await expect(lanes.update('https://api.test/x', value => value, {method: 'DELETE' as never})).rejects.toThrow(
		"Expected `method` to be `'PATCH'`, `'PUT'` or `'POST'`, got `\"DELETE\"` (string)",
	);
});
