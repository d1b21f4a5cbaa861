import {afterEach, expect, test, vi} from 'vitest';
import {createLanes, isSuperseded, isUncertainOutcomeError, UncertainOutcomeError} from '../src/index.js';
import {deferred} from './http-helpers.js';

afterEach(() => {
	vi.useRealTimers();
});

type Seen = {method: string; path: string; headers: Headers; body: string};

/** A fetch stand-in that records requests and answers with `reply` (which may wait). */
function recordingFetch(reply: (seen: Seen, index: number) => Response | Promise<Response>) {
	const seen: Seen[] = [];
	const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		const entry = {method: request.method, path: new URL(request.url).pathname + new URL(request.url).search, headers: request.headers, body: await request.text()};
		seen.push(entry);
		return reply(entry, seen.length - 1);
	};

	return {seen, fetchImpl};
}

test('cache - a revalidated GET answered 304 is served from memory with the original body', async () => {
	const {seen, fetchImpl} = recordingFetch(({headers}) =>
		headers.get('if-none-match') === '"7"' ? new Response(null, {status: 304, headers: {etag: '"7"'}}) : new Response('{"n":7}', {headers: {etag: '"7"', 'content-type': 'application/json'}}),
	);
	const lanes = createLanes({cache: true});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const first = await laneFetch('https://api.test/objects/1');
	expect(await first.json()).toEqual({n: 7});
	const second = await laneFetch('https://api.test/objects/1');
	expect(second.status).toBe(200);
	expect(second.headers.get('etag')).toBe('"7"');
	expect(await second.json()).toEqual({n: 7});
	expect(seen.map(entry => entry.headers.get('if-none-match'))).toEqual([null, '"7"']);
});

test('cache - entries are per credentials, bounded, and skipped for large bodies', async () => {
	const {seen, fetchImpl} = recordingFetch(({path}) => new Response(path === '/big' ? 'x'.repeat(100) : 'small', {headers: {etag: '"1"'}}));
	const lanes = createLanes({cache: {maxEntries: 2, maxBodyBytes: 10}});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	await laneFetch('https://api.test/a', {headers: {authorization: 'Bearer one'}});
	await laneFetch('https://api.test/a', {headers: {authorization: 'Bearer two'}});
	await laneFetch('https://api.test/big');
	await laneFetch('https://api.test/big');
	expect(seen.map(entry => entry.headers.get('if-none-match'))).toEqual([null, null, null, null]);
	expect(() => createLanes({cache: {maxEntries: 0}})).toThrow('Expected `cache.maxEntries` to be an integer >= 1, got `0` (number)');
});

test('coalesce - identical concurrent GETs share one request and every caller can read the body', async () => {
	const gate = deferred();
	const {seen, fetchImpl} = recordingFetch(async () => {
		await gate.promise;
		return new Response('{"shared":true}');
	});
	const lanes = createLanes({coalesce: true});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const callers = [laneFetch('https://api.test/x'), laneFetch('https://api.test/x'), laneFetch('https://api.test/x')];
	const other = laneFetch('https://api.test/x', {headers: {authorization: 'Bearer someone-else'}});
	gate.resolve();
	const bodies = await Promise.all(callers.map(async pending => (await pending).text()));
	expect(bodies).toEqual(['{"shared":true}', '{"shared":true}', '{"shared":true}']);
	await other;
	expect(seen).toHaveLength(2);
});

test('coalesce - an aborting caller only detaches itself; the request is aborted when every caller aborted', async () => {
	let requestSignal: AbortSignal | undefined;
	const gate = deferred();
	const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
		requestSignal = new Request(input, init).signal;
		await gate.promise;
		return new Response('late');
	};

	const lanes = createLanes({coalesce: true});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const first = new AbortController();
	const second = new AbortController();
	const a = laneFetch('https://api.test/x', {signal: first.signal});
	const b = laneFetch('https://api.test/x', {signal: second.signal});
	await vi.waitFor(() => {
		expect(requestSignal).toBeDefined();
	});
	first.abort(new Error('a gave up'));
	await expect(a).rejects.toThrow('a gave up');
	expect(requestSignal!.aborted).toBe(false);
	second.abort(new Error('b gave up'));
	await expect(b).rejects.toThrow('b gave up');
	expect(requestSignal!.aborted).toBe(true);
	gate.resolve();
	expect(() => createLanes({coalesce: true, reads: 'shared'})).toThrow("`coalesce` needs `reads: 'parallel'`");
});

test('supersede - consecutive queued PUTs of one URL collapse into the last; replaced callers get its response, flagged', async () => {
	const gate = deferred();
	const {seen, fetchImpl} = recordingFetch(async ({body}, index) => {
		if (index === 0) {
			await gate.promise;
		}

		return new Response(`stored ${body}`);
	});
	const lanes = createLanes({supersede: true});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const running = laneFetch('https://api.test/objects/1', {method: 'PUT', body: 'v1'});
	const replaced1 = laneFetch('https://api.test/objects/1', {method: 'PUT', body: 'v2'});
	const replaced2 = laneFetch('https://api.test/objects/1', {method: 'PUT', body: 'v3'});
	const winner = laneFetch('https://api.test/objects/1', {method: 'PUT', body: 'v4'});
	gate.resolve();
	expect(await (await running).text()).toBe('stored v1');
	const responses = await Promise.all([replaced1, replaced2, winner]);
	expect(await Promise.all(responses.map(async response => response.text()))).toEqual(['stored v4', 'stored v4', 'stored v4']);
	expect(responses.map(response => isSuperseded(response))).toEqual([true, true, false]);
	expect(seen.map(entry => entry.body)).toEqual(['v1', 'v4']);
});

test('supersede - a PUT is not replaced across another operation, another URL, or when off', async () => {
	const gate = deferred();
	const {seen, fetchImpl} = recordingFetch(async (_seen, index) => {
		if (index === 0) {
			await gate.promise;
		}

		return new Response('ok');
	});
	const lanes = createLanes({supersede: true, keys: () => 'one-lane'});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const pending = [
		laneFetch('https://api.test/a', {method: 'PUT', body: '1'}),
		laneFetch('https://api.test/a', {method: 'PUT', body: '2'}),
		laneFetch('https://api.test/a', {method: 'PATCH', body: '3'}),
		laneFetch('https://api.test/a', {method: 'PUT', body: '4'}),
		laneFetch('https://api.test/b', {method: 'PUT', body: '5'}),
	];
	gate.resolve();
	await Promise.all(pending);
	expect(seen.map(entry => `${entry.method} ${entry.path} ${entry.body}`)).toEqual(['PUT /a 1', 'PUT /a 2', 'PATCH /a 3', 'PUT /a 4', 'PUT /b 5']);
});

test('idempotencyKeys - a POST gets one key, kept across its retries, and is retried after a 503', async () => {
	const {seen, fetchImpl} = recordingFetch((_seen, index) => new Response(null, {status: index === 0 ? 503 : 201}));
	const lanes = createLanes({idempotencyKeys: true, retry: {backoff: () => 0}});
	const response = await lanes.wrapFetch(fetchImpl)('https://api.test/blocks', {method: 'POST', body: '{}'});
	expect(response.status).toBe(201);
	const keys = seen.map(entry => entry.headers.get('idempotency-key'));
	expect(keys).toHaveLength(2);
	expect(keys[0]).toMatch(/^[\da-f-]{36}$/);
	expect(keys[1]).toBe(keys[0]);
});

test("idempotencyKeys - a caller's own key is kept, and a preset can carry it in the body", async () => {
	const {seen, fetchImpl} = recordingFetch(() => new Response(null, {status: 200}));
	const lanes = createLanes({idempotencyKeys: {header: 'X-Request-Id'}});
	await lanes.wrapFetch(fetchImpl)('https://api.test/a', {method: 'PATCH', body: '{}', headers: {'x-request-id': 'mine'}});
	expect(seen[0]!.headers.get('x-request-id')).toBe('mine');
	const square = createLanes({idempotencyKeys: true, keys: {name: 'body-key', rule: () => undefined, idempotency: {bodyField: 'idempotency_key'}}});
	await square.wrapFetch(fetchImpl)('https://api.test/v2/payments', {method: 'POST', body: '{"amount":1}', headers: {'content-type': 'application/json'}});
	expect(JSON.parse(seen[1]!.body)).toEqual({amount: 1, idempotency_key: expect.stringMatching(/^[\da-f-]{36}$/)});
	expect(() => createLanes({idempotencyKeys: {header: 'bad header'}})).toThrow('Expected `idempotencyKeys.header` to be a header name, got `"bad header"` (string)');
});

/** A fetch whose first PATCH breaks in transit. */
function breakingFetch() {
	return recordingFetch(({method}, index) => {
		if (method === 'PATCH' && index === 0) {
			throw new TypeError('fetch failed');
		}

		return new Response('{}', {headers: {etag: '"2"'}});
	});
}

test("uncertain: 'settle' - the lane stays held for the grace period before the next write", async () => {
	vi.useFakeTimers();
	const {seen, fetchImpl} = breakingFetch();
	const lanes = createLanes({uncertain: {policy: 'settle', graceMs: 500}});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const failed = laneFetch('https://api.test/o/1', {method: 'PATCH', body: '1'}).catch((error: unknown) => error);
	const next = laneFetch('https://api.test/o/1', {method: 'PUT', body: '2'});
	await vi.advanceTimersByTimeAsync(499);
	expect(seen).toHaveLength(1);
	await vi.advanceTimersByTimeAsync(1);
	expect(isUncertainOutcomeError(await failed)).toBe(true);
	await next;
	expect(seen.map(entry => entry.body)).toEqual(['1', '2']);
});

test("uncertain: 'fail' - the key's queued writes are rejected and never sent; other keys go on", async () => {
	const gate = deferred();
	const {seen, fetchImpl} = recordingFetch(async ({method}, index) => {
		if (method === 'PATCH' && index === 0) {
			await gate.promise;
			throw new TypeError('fetch failed');
		}

		return new Response('{}');
	});
	const lanes = createLanes({uncertain: 'fail'});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const failed = laneFetch('https://api.test/o/1', {method: 'PATCH', body: '1'}).catch((error: unknown) => error);
	const queued = [
		laneFetch('https://api.test/o/1', {method: 'PUT', body: '2'}).catch((error: unknown) => error),
		laneFetch('https://api.test/o/1', {method: 'DELETE'}).catch((error: unknown) => error),
	];
	const other = laneFetch('https://api.test/o/2', {method: 'PUT', body: '3'});
	gate.resolve();
	expect(await failed).toMatchObject({code: 'WL_UNCERTAIN', policy: 'fail'});
	for (const outcome of await Promise.all(queued)) {
		expect(outcome).toBeInstanceOf(UncertainOutcomeError);
		expect((outcome as Error).message).toMatch(/was not sent/);
	}

	await other;
	expect(seen.map(entry => `${entry.method} ${entry.path}`)).toEqual(['PATCH /o/1', 'PUT /o/2']);
	const later = await laneFetch('https://api.test/o/1', {method: 'PUT', body: '4'});
	expect(later.status).toBe(200);
});

test("uncertain: 'verify' - re-reads the resource and reports whether the write was applied", async () => {
	const {seen, fetchImpl} = recordingFetch(({method}) => {
		if (method === 'PATCH') {
			throw new TypeError('fetch failed');
		}

		return new Response('{}', {headers: {etag: '"2"'}});
	});
	const lanes = createLanes({uncertain: 'verify'});
	const error = await lanes
		.wrapFetch(fetchImpl)('https://api.test/o/1', {method: 'PATCH', body: '1', headers: {'if-match': '"1"', authorization: 'Bearer t'}})
		.catch((error_: unknown) => error_);
	expect(error).toMatchObject({code: 'WL_UNCERTAIN', policy: 'verify', applied: true});
	expect(seen.map(entry => `${entry.method} ${entry.path} ${entry.headers.get('authorization')}`)).toEqual(['PATCH /o/1 Bearer t', 'GET /o/1 Bearer t']);
});
