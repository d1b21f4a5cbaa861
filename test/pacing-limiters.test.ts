import ky from 'ky';
import {expect, test} from 'vitest';
import {type Algorithm, algorithms, type Generation, generations, type LimiterServer, startLimiterServer} from '../bench/limiter-server.js';
import {capacities, createLanes, type Lanes, type LanesOptions} from '../src/index.js';

// The pacer against limiters servers really run (bench/limiter-server.js: rate-limiter-flexible's fixed
// window, limiter's token bucket, a sliding log), over real HTTP on 127.0.0.1, in every generation of
// rate-limit header fields, 10 requests per 500 ms per endpoint. Counts of 429s and order are asserted,
// never times: `npm run bench:pacing` measures how close to the quota bound a batch gets.

const limit = 10;
const windowMs = 500;
/** Runs `body` with a fresh server of each `algorithm`, closed afterwards (the tests run concurrently). */
async function withServers<T>(specs: ReadonlyArray<readonly [Algorithm, Generation]>, body: (...servers: LimiterServer[]) => Promise<T>): Promise<T> {
	const servers = await Promise.all(specs.map(async ([algorithm, generation]) => startLimiterServer({algorithm, generation, limit, windowMs})));
	try {
		return await body(...servers);
	} finally {
		await Promise.all(servers.map(async server => server.close()));
	}
}

function laneFetch(server: LimiterServer, options: LanesOptions = {}) {
	const lanes = createLanes({keys: capacities(), ...options});
	const send = async (path: string, body: {id: string; client: string; seq: number}) =>
		lanes.fetch(`${server.url}${path}`, {
			method: 'PATCH',
			headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json'},
			body: JSON.stringify(body),
		});
	return {lanes, send};
}

/** `count` writes of `client` to `path`, all called at once, round-robin over `objects` objects; resolves to their statuses. */
async function batch(send: (path: string, body: {id: string; client: string; seq: number}) => Promise<Response>, count: number, objects: number, path = '/object', client = 'a') {
	const responses = await Promise.all(Array.from({length: count}, async (_, seq) => send(path, {id: `${path}#${seq % objects}`, client, seq})));
	return responses.map(response => response.status);
}

/** Per object, the writes of `client` the server applied: each once, in call order. */
function appliedInOrder(server: LimiterServer, client = 'a'): boolean {
	for (const writes of server.log.applied.values()) {
		const seqs = writes.filter(write => write.startsWith(`${client}:`)).map(write => Number(write.slice(client.length + 1)));
		if (seqs.some((seq, index) => index > 0 && seq <= (seqs[index - 1] ?? Number.NaN))) {
			return false;
		}
	}

	return true;
}

function applied(server: LimiterServer, client = 'a'): number {
	return [...server.log.applied.values()].flat().filter(write => write.startsWith(`${client}:`)).length;
}

async function close(lanes: Lanes): Promise<void> {
	await lanes.close();
}

const combinations = algorithms.flatMap(algorithm => generations.map(generation => [algorithm, generation] as const));

test.concurrent.each(combinations)('pacing - %s limiter announced in %s fields: 30 writes over 5 objects, one client, 0 × 429, each applied once in call order', async (algorithm, generation) => {
	await withServers([[algorithm, generation]], async server => {
		const {lanes, send} = laneFetch(server);
		const statuses = await batch(send, 30, 5);
		await close(lanes);
		expect(server.log.tooMany).toBe(0);
		expect(statuses.every(status => status === 200)).toBe(true);
		expect(applied(server)).toBe(30);
		expect(appliedInOrder(server)).toBe(true);
	});
});

test.concurrent.each(algorithms)('pacing - wrapKy() against a %s limiter (draft-8 fields): 0 × 429, each write applied once in call order', async algorithm => {
	await withServers([[algorithm, 'draft-8']], async server => {
		const lanes = createLanes({keys: capacities()});
		const api = lanes.wrapKy(ky.create({retry: 0, throwHttpErrors: false, headers: {authorization: `Bearer ${server.token}`}}));
		const statuses = await batch(async (path, json) => api.patch(`${server.url}${path}`, {json}), 30, 5);
		await close(lanes);
		expect(server.log.tooMany).toBe(0);
		expect(statuses.every(status => status === 200)).toBe(true);
		expect(applied(server)).toBe(30);
		expect(appliedInOrder(server)).toBe(true);
	});
});

test.concurrent.each(algorithms)('pacing - %s limiter, three endpoints with a quota each (as Capacities counts), all at once: each paced on its own, 0 × 429', async algorithm => {
	await withServers([[algorithm, 'draft-7']], async server => {
		const {lanes, send} = laneFetch(server);
		const paths = ['/object', '/object/markdown', '/blocks/append'];
		const statuses = (await Promise.all(paths.map(async path => batch(send, 20, 4, path)))).flat();
		await close(lanes);
		expect(server.log.tooMany).toBe(0);
		expect(statuses.every(status => status === 200)).toBe(true);
		for (const path of paths) {
			expect(server.log.endpoints.get(`PATCH ${path}`)).toEqual({requests: 20, tooMany: 0});
		}

		expect(appliedInOrder(server)).toBe(true);
	});
});

test.concurrent.each(algorithms)('pacing - %s limiter, a second client spending the same quota: 429s follow, Retry-After is honoured inside the lanes, nothing is lost and each object keeps its order', {timeout: 60_000}, async algorithm => {
	await withServers([[algorithm, 'draft-7']], async server => {
		const {lanes, send} = laneFetch(server, {retry: {limit: 50}});
		// The other client ignores every header: it spends the whole quota first, then about two thirds
		// of it (a burst of 4 every 300 ms) while the batch runs.
		let seq = 0;
		const spend = async (count: number) =>
			Promise.all(
				Array.from({length: count}, async () =>
					fetch(`${server.url}/object`, {
						method: 'PATCH',
						headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json'},
						body: JSON.stringify({id: `other#${seq % 3}`, client: 'b', seq: seq++}),
					}).then(async response => response.arrayBuffer()),
				),
			);
		await spend(limit);
		let running = true;
		const other = (async () => {
			while (running) {
				await new Promise(resolve => setTimeout(resolve, 300));
				await spend(4);
			}
		})();
		const statuses = await batch(send, 30, 5);
		running = false;
		await other;
		await close(lanes);
		expect(server.log.clients.get('a')?.tooMany).toBeGreaterThan(0);
		expect(statuses.every(status => status === 200)).toBe(true);
		expect(applied(server)).toBe(30);
		expect(appliedInOrder(server)).toBe(true);
	});
});

test.concurrent('pacing - a cold start: probing (the default) sends one request per bucket first and gets no 429; without it the batch runs into the quota', async () => {
	await withServers([['fixed-window', 'draft-7'], ['fixed-window', 'draft-7']], async (probed, unprobed) => {
		// 30 objects: no lane holds a write back, everything is called at once.
		const withProbe = laneFetch(probed);
		const withoutProbe = laneFetch(unprobed, {pacing: {probe: false}, retry: {limit: 10}});
		const [a, b] = await Promise.all([batch(withProbe.send, 30, 30), batch(withoutProbe.send, 30, 30)]);
		await Promise.all([close(withProbe.lanes), close(withoutProbe.lanes)]);
		expect(probed.log.tooMany).toBe(0);
		expect(unprobed.log.tooMany).toBeGreaterThan(0);
		expect([...a, ...b].every(status => status === 200)).toBe(true);
	});
});
