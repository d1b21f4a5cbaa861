import {expect, onTestFinished, test, vi} from 'vitest';
import {type BatchJournal, type BatchOperation, type BatchResult, capacities, createLanes, type LanesOptions, runBatch} from '../src/index.js';
import {type Deferred, deferred, flush} from './helpers.js';

const origin = 'https://api.test';

/** `PUT /objects/<lane>` tagged `<lane><n>` (`a1`, `a2` …): the default key rule gives lane `api.test/objects/<lane>`. */
function op(tag: string, extra: Partial<BatchOperation> = {}): BatchOperation {
	return {id: tag, method: 'PUT', path: `/objects/${tag.replace(/\d+$/, '')}`, headers: {'x-op': tag}, body: {tag}, ...extra};
}

/** A transport whose answers the test gives: logs `send:<tag>` per attempt. */
function server() {
	const log: string[] = [];
	const answers = new Map<string, Deferred<Response>[]>();
	const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
		const request = new Request(input, init);
		const tag = request.headers.get('x-op') ?? `${request.method} ${new URL(request.url).pathname}`;
		log.push(`send:${tag}`);
		const answer = deferred<Response>();
		answers.set(tag, [...(answers.get(tag) ?? []), answer]);
		return answer.promise;
	};

	const take = (tag: string): Deferred<Response> => {
		const queue = answers.get(tag);
		const answer = queue?.shift();
		if (!answer) {
			throw new Error(`${tag} was not sent`);
		}

		return answer;
	};

	return {
		log,
		fetch,
		answer(tag: string, status = 200) {
			take(tag).resolve(new Response(status === 204 ? null : '{}', {status}));
		},
		fail(tag: string, error: unknown) {
			take(tag).reject(error);
		},
	};
}

function lanes(options: LanesOptions = {}) {
	const instance = createLanes({pacing: false, ...options});
	onTestFinished(async () => {
		await instance.close();
	});
	return instance;
}

function results() {
	const list: BatchResult[] = [];
	return {
		list,
		onResult: (result: BatchResult) => list.push(result),
		outcomes: () => Object.fromEntries(list.map(result => [result.id, result.outcome])),
	};
}

/** A journal whose appends the test completes: logs `append:<entry>`. */
function journal(recorded: readonly string[] = []) {
	const entries = new Set(recorded);
	const log: string[] = [];
	const pending = new Map<string, Deferred<void>>();
	const instance: BatchJournal = {
		has: entry => entries.has(entry),
		append(entry) {
			log.push(`append:${entry}`);
			const done = deferred();
			pending.set(entry, done);
			return done.promise.then(() => {
				entries.add(entry);
			});
		},
	};
	return {
		instance,
		log,
		entries,
		flushed(entry: string) {
			pending.get(entry)!.resolve();
		},
		failed(entry: string, error: unknown) {
			pending.get(entry)!.reject(error);
		},
	};
}

test('runBatch() - operations of one lane are sent in input order, one at a time, while other lanes run alongside', async () => {
	const api = server();
	const running = runBatch([op('a1'), op('b1'), op('a2'), op('b2'), op('a3')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch});
	await flush();
	expect(api.log).toEqual(['send:a1', 'send:b1']);

	api.answer('b1');
	await flush();
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:b2']);

	api.answer('a1');
	await flush();
	expect(api.log.slice(3)).toEqual(['send:a2']);
	api.answer('a2');
	api.answer('b2');
	await flush();
	api.answer('a3');

	const summary = await running;
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:b2', 'send:a2', 'send:a3']);
	expect(summary).toMatchObject({operations: 5, done: 5, failed: 0, skipped: 0, resumed: 0, interrupted: 0, stopped: false, requests: 5});
	expect(summary.lanes.map(lane => [lane.key, lane.done]).sort()).toEqual([
		['api.test/objects/a', 3],
		['api.test/objects/b', 2],
	]);
});

test('runBatch() - a failed write skips the later operations of its lane without sending them; other lanes go on', async () => {
	const api = server();
	const seen = results();
	const running = runBatch([op('a1'), op('a2'), op('b1'), op('a3'), op('b2')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, onResult: seen.onResult});
	await flush();
	api.answer('a1', 404);
	api.answer('b1');
	await flush();
	api.answer('b2');

	const summary = await running;
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:b2']);
	expect(seen.outcomes()).toEqual({a1: 'failed', a2: 'skipped', a3: 'skipped', b1: 'done', b2: 'done'});
	expect(seen.list.find(result => result.id === 'a1')).toMatchObject({status: 404, attempts: 1, keys: ['api.test/objects/a']});
	expect(summary).toMatchObject({done: 2, failed: 1, skipped: 2});
	expect(summary.lanes.find(lane => lane.key === 'api.test/objects/a')).toMatchObject({done: 0, failed: 1, skipped: 2});
});

test('runBatch() - an operation read after its lane failed is skipped at once', async () => {
	const api = server();
	const seen = results();
	async function* source() {
		yield op('a1', {method: 'POST'});
		// Read only after a1 settled.
		await vi.waitFor(() => {
			expect(seen.list).toHaveLength(1);
		});
		yield op('a2');
		yield op('b1');
	}

	// POST is not retried after a network error; the lane settles at once.
	const running = runBatch(source(), {lanes: lanes({uncertain: {policy: 'settle', graceMs: 0}}), baseUrl: origin, fetch: api.fetch, onResult: seen.onResult});
	await flush();
	api.fail('a1', new TypeError('fetch failed'));
	await vi.waitFor(() => {
		expect(api.log).toContain('send:b1');
	});
	api.answer('b1');

	await running;
	expect(api.log).toEqual(['send:a1', 'send:b1']);
	expect(seen.outcomes()).toEqual({a1: 'failed', a2: 'skipped', b1: 'done'});
	expect(seen.list[0]!.error).toBeInstanceOf(Error);
});

test("runBatch() - onFailure: 'continue' sends the rest of a failed lane in order", async () => {
	const api = server();
	const seen = results();
	const running = runBatch([op('a1'), op('a2')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, onFailure: 'continue', onResult: seen.onResult});
	await flush();
	api.answer('a1', 500);
	await flush();
	api.answer('a2');

	const summary = await running;
	expect(api.log).toEqual(['send:a1', 'send:a2']);
	expect(seen.outcomes()).toEqual({a1: 'failed', a2: 'done'});
	expect(summary).toMatchObject({done: 1, failed: 1, skipped: 0});
});

test('runBatch() - a multi-key operation waits for, and is skipped after, a failure on any of its lanes', async () => {
	const api = server();
	const seen = results();
	const running = runBatch([op('a1'), op('b1'), op('ab1', {key: ['x/a', 'x/b'], path: '/pair'}), op('c1', {key: 'x/b'})], {
		lanes: lanes(),
		baseUrl: origin,
		fetch: api.fetch,
		onResult: seen.onResult,
	});
	await flush();
	// a1 and b1 have rule keys; ab1 names x/a and x/b, c1 names x/b: ab1 and c1 share x/b only.
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:ab1']);
	api.answer('ab1', 409);
	api.answer('a1');
	api.answer('b1');

	await running;
	expect(seen.outcomes()).toEqual({a1: 'done', b1: 'done', ab1: 'failed', c1: 'skipped'});
	expect(api.log).not.toContain('send:c1');
});

test('runBatch() - a retry happens inside the lane, before its next operation; the journal records the operation once', async () => {
	const api = server();
	const records = journal();
	const running = runBatch([op('a1'), op('a2')], {lanes: lanes({retry: {limit: 2, backoff: () => 0}}), baseUrl: origin, fetch: api.fetch, journal: records.instance});
	await flush();
	api.answer('a1', 503);
	await vi.waitFor(() => {
		expect(api.log).toEqual(['send:a1', 'send:a1']);
	});
	api.answer('a1');
	await vi.waitFor(() => {
		expect(records.log).toEqual(['append:id:a1']);
	});
	expect(api.log).toEqual(['send:a1', 'send:a1']);
	records.flushed('id:a1');
	await vi.waitFor(() => {
		expect(api.log).toEqual(['send:a1', 'send:a1', 'send:a2']);
	});
	api.answer('a2');
	await vi.waitFor(() => {
		expect(records.log).toEqual(['append:id:a1', 'append:id:a2']);
	});
	records.flushed('id:a2');

	const summary = await running;
	expect(summary).toMatchObject({done: 2, requests: 3});
});

test('runBatch() - the next operation of a lane starts only once its predecessor is durably journaled; other lanes do not wait', async () => {
	const api = server();
	const records = journal();
	const running = runBatch([op('a1'), op('a2'), op('b1'), op('b2')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: records.instance});
	await flush();
	api.answer('a1');
	await flush();
	expect(records.log).toEqual(['append:id:a1']);
	expect(api.log).toEqual(['send:a1', 'send:b1']);

	// Lane b moves on while a1's entry is being flushed.
	api.answer('b1');
	await flush();
	records.flushed('id:b1');
	await flush();
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:b2']);

	records.flushed('id:a1');
	await flush();
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:b2', 'send:a2']);
	api.answer('a2');
	api.answer('b2');
	await flush();
	records.flushed('id:a2');
	records.flushed('id:b2');

	await running;
	expect([...records.entries].sort()).toEqual(['id:a1', 'id:a2', 'id:b1', 'id:b2']);
});

test('runBatch() - a journal from an earlier run skips what it acknowledged and sends the rest in order', async () => {
	const api = server();
	const records = journal(['id:a1', 'id:b1']);
	const seen = results();
	const running = runBatch([op('a1'), op('a2'), op('b1'), op('a3')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: records.instance, onResult: seen.onResult});
	await flush();
	expect(api.log).toEqual(['send:a2']);
	api.answer('a2');
	await flush();
	records.flushed('id:a2');
	await flush();
	api.answer('a3');
	await flush();
	records.flushed('id:a3');

	const summary = await running;
	expect(api.log).toEqual(['send:a2', 'send:a3']);
	expect(seen.outcomes()).toEqual({a1: 'resumed', a2: 'done', b1: 'resumed', a3: 'done'});
	expect(summary).toMatchObject({operations: 4, done: 2, resumed: 2});
});

test('runBatch() - operations without an id are journaled by position and content hash, never by their headers', async () => {
	const api = server();
	const entries: string[] = [];
	const memory: BatchJournal = {
		has: entry => entries.includes(entry),
		async append(entry) {
			entries.push(entry);
		},
	};
	const operations = [op('a1', {id: undefined}), op('a2', {id: undefined})];
	const first = runBatch(operations, {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: memory, headers: {authorization: 'Bearer secret-token-1'}});
	await vi.waitFor(() => {
		api.answer('a1');
	});
	await vi.waitFor(() => {
		api.answer('a2');
	});
	await first;
	expect(entries).toHaveLength(2);
	expect(entries[0]).toMatch(/^#0:[\da-f]{32}$/);
	expect(entries[1]).toMatch(/^#1:[\da-f]{32}$/);

	// Same operations, another token: nothing is sent again.
	const again = await runBatch(operations, {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: memory, headers: {authorization: 'Bearer secret-token-2'}});
	expect(again).toMatchObject({resumed: 2, done: 0});
	// An edited operation at a journaled position is not taken for the acknowledged one.
	const edited = runBatch([op('a1', {id: undefined, body: {tag: 'changed'}})], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: memory});
	await vi.waitFor(() => {
		api.answer('a1');
	});
	expect(await edited).toMatchObject({done: 1, resumed: 0});
});

test('runBatch() - a journal that cannot record stops the batch and rejects with its error', async () => {
	const api = server();
	const records = journal();
	const seen = results();
	const running = runBatch([op('a1'), op('a2'), op('b1')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: records.instance, onResult: seen.onResult});
	const outcome = running.catch((error: unknown) => error);
	await flush();
	api.answer('a1');
	await flush();
	records.failed('id:a1', new Error('ENOSPC: no space left on device'));
	await flush();
	api.answer('b1');
	await flush();
	records.flushed('id:b1');

	expect(await outcome).toMatchObject({message: 'ENOSPC: no space left on device'});
	expect(api.log).toEqual(['send:a1', 'send:b1']);
	expect(seen.outcomes()).toEqual({a1: 'failed', a2: 'interrupted', b1: 'done'});
});

test('runBatch() - stopping drops what waits, lets what is being sent finish and journal, and reads no further', async () => {
	const api = server();
	const records = journal();
	const controller = new AbortController();
	const seen = results();
	let read = 0;
	function* source() {
		for (const tag of ['a1', 'a2', 'b1', 'c1', 'c2']) {
			read++;
			yield op(tag);
		}
	}

	const running = runBatch(source(), {lanes: lanes(), baseUrl: origin, fetch: api.fetch, journal: records.instance, window: 4, signal: controller.signal, onResult: seen.onResult});
	await flush();
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:c1']);
	expect(read).toBe(4);

	controller.abort();
	await flush();
	api.answer('a1');
	api.answer('b1', 500);
	api.answer('c1');
	await flush();
	records.flushed('id:a1');
	records.flushed('id:c1');

	const summary = await running;
	expect(read).toBe(4);
	expect(api.log).toEqual(['send:a1', 'send:b1', 'send:c1']);
	expect(seen.outcomes()).toEqual({a1: 'done', a2: 'interrupted', b1: 'failed', c1: 'done'});
	expect(summary).toMatchObject({operations: 4, done: 2, failed: 1, interrupted: 1, stopped: true});
});

test('runBatch() - stopping after the whole source was read still drops the operations waiting for their lane', async () => {
	const api = server();
	const controller = new AbortController();
	const seen = results();
	const running = runBatch([op('a1'), op('a2'), op('a3')], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, signal: controller.signal, onResult: seen.onResult});
	await flush();
	expect(api.log).toEqual(['send:a1']);
	controller.abort();
	await flush();
	api.answer('a1');

	expect(await running).toMatchObject({done: 1, interrupted: 2, stopped: true});
	expect(api.log).toEqual(['send:a1']);
	expect(seen.outcomes()).toEqual({a1: 'done', a2: 'interrupted', a3: 'interrupted'});
});

test('runBatch() - an async source is read at most `window` operations ahead', async () => {
	const api = server();
	let read = 0;
	async function* source() {
		for (let index = 1; index <= 6; index++) {
			read++;
			yield op(`a${index}`);
		}
	}

	const running = runBatch(source(), {lanes: lanes(), baseUrl: origin, fetch: api.fetch, window: 2});
	await flush();
	expect(read).toBe(2);
	for (let index = 1; index <= 6; index++) {
		api.answer(`a${index}`);
		await flush();
		expect(read).toBe(Math.min(6, index + 2));
	}

	expect(await running).toMatchObject({operations: 6, done: 6});
});

test('runBatch() - an invalid operation in an array rejects before anything is sent, naming it', async () => {
	const api = server();
	const operations = [op('a1'), op('a2'), {...op('a3'), method: 'PA TCH'}];
	await expect(runBatch(operations, {lanes: lanes(), baseUrl: origin, fetch: api.fetch})).rejects.toThrow(
		'Expected `operations[2].method` to be an HTTP method name such as `"PATCH"`, got `"PA TCH"` (string)',
	);
	await expect(runBatch([{method: 'GET', path: '/x', mehtod: 'PUT'} as BatchOperation], {lanes: lanes(), baseUrl: origin, fetch: api.fetch})).rejects.toThrow(
		'Unknown field `operations[0].mehtod`',
	);
	expect(api.log).toEqual([]);
});

test('runBatch() - an invalid operation in a stream stops the batch: what was sent settles, nothing after it is sent', async () => {
	const api = server();
	async function* source() {
		yield op('a1');
		yield op('a2');
		yield {method: 'PUT'} as BatchOperation;
		yield op('b1');
	}

	const outcome = runBatch(source(), {lanes: lanes(), baseUrl: origin, fetch: api.fetch}).catch((error: unknown) => error);
	await flush();
	api.answer('a1');
	expect(await outcome).toMatchObject({name: 'TypeError', message: 'Expected `operations[2].url` or `operations[2].path` to name the request\'s target, got neither'});
	expect(api.log).toEqual(['send:a1']);
});

test('runBatch() - credentials go only to the base URL\'s origin and never into results', async () => {
	const api = server();
	await expect(
		runBatch([{method: 'PUT', url: 'https://elsewhere.test/objects/a?token=abc'}], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, headers: {authorization: 'Bearer t'}}),
	).rejects.toThrow("Expected `operations[0].url` to be a URL on `baseUrl`'s origin https://api.test, got `\"https://elsewhere.test/objects/a\"` (string)");

	const seen = results();
	const running = runBatch([op('a1', {path: '/objects/a?api_key=hidden-key'})], {lanes: lanes(), baseUrl: origin, fetch: api.fetch, headers: {authorization: 'Bearer secret-token'}, onResult: seen.onResult});
	await flush();
	api.answer('a1', 401);
	await running;
	expect(JSON.stringify(seen.list)).not.toMatch(/secret-token|hidden-key/);
	expect(seen.list[0]).toMatchObject({url: 'https://api.test/objects/a', status: 401, outcome: 'failed'});
});

test('runBatch() - an operation\'s key overrides the lanes\' rule; lanes.keysOf() says what the rule decides', async () => {
	const instance = lanes();
	await expect(instance.keysOf(`${origin}/objects//a/`, {method: 'PATCH'})).resolves.toEqual({keys: ['api.test/objects/a'], kind: 'write'});
	await expect(instance.keysOf(`${origin}/objects/a`)).resolves.toEqual({keys: ['api.test/objects/a'], kind: 'read'});

	const api = server();
	// Two URLs, one named lane: the second waits for the first.
	const running = runBatch([op('p1', {key: 'pages/1', path: '/x'}), op('q1', {key: '/pages//1/', path: '/y'})], {lanes: instance, baseUrl: origin, fetch: api.fetch});
	await flush();
	expect(api.log).toEqual(['send:p1']);
	api.answer('p1');
	await flush();
	expect(api.log).toEqual(['send:p1', 'send:q1']);
	api.answer('q1');
	expect(await running).toMatchObject({done: 2});
});

test('lanes.keysOf() - a URL and a string body resolve as the Request they describe would', async () => {
	const instance = lanes({keys: capacities()});
	const id = '9F2C0000-0000-4000-8000-000000000001';
	const json = {'content-type': 'application/json'};
	const cases: Array<[string, RequestInit]> = [
		[`${origin}/object`, {method: 'patch', headers: json, body: JSON.stringify({id})}],
		[`${origin}/object`, {method: 'PATCH', body: JSON.stringify({id})}],
		[`${origin}/object`, {method: 'PATCH', headers: json, body: '{not json'}],
		[`${origin}/object?id=${id}`, {}],
		[`${origin}/objects/search`, {method: 'POST', headers: {'content-type': 'application/merge-patch+json; charset=utf-8'}, body: '{"query":"x"}'}],
		[`${origin}/blocks/append`, {method: 'POST', headers: new Headers(json), body: JSON.stringify({id, blocks: []})}],
	];
	for (const [url, init] of cases) {
		// A Request input takes the general path: both must agree.
		expect(await instance.keysOf(url, init)).toEqual(await instance.keysOf(new Request(url, init)));
	}

	expect(await instance.keysOf(`${origin}/object`, {method: 'PATCH', headers: json, body: JSON.stringify({id})})).toEqual({keys: ['objects/9f2c0000-0000-4000-8000-000000000001'], kind: 'write'});
	await expect(instance.keysOf('https://user:secret@api.test/object')).rejects.toThrow('Expected `url` to have no user name or password');
	await expect(instance.keysOf('/object')).rejects.toThrow(TypeError);
});

test('lanes.wrapFetch(fetch, {keys}) - every request takes the named lanes instead of the rule\'s', async () => {
	const instance = lanes();
	const api = server();
	const pinned = instance.wrapFetch(api.fetch as typeof fetch, {keys: 'objects/1'});
	const first = pinned(`${origin}/a`, {method: 'PUT', headers: {'x-op': 'one'}});
	const second = pinned(`${origin}/b`, {method: 'PUT', headers: {'x-op': 'two'}});
	await flush();
	expect(api.log).toEqual(['send:one']);
	expect(instance.stats().lanes.map(lane => lane.key)).toEqual(['objects/1']);
	api.answer('one');
	await first;
	await flush();
	api.answer('two');
	await second;
	expect(() => instance.wrapFetch(fetch, {keys: ''})).toThrow('Expected `keys` to be a non-empty string with at least one segment');
	expect(() => instance.wrapFetch(fetch, {keys: 'a', kind: 'both' as 'read'})).toThrow("Expected `kind` to be `'read'`, `'write'` or undefined");
});

test('runBatch() - the summary bounds the run by its busiest lane or its work over the concurrency', async () => {
	vi.useFakeTimers();
	try {
		// Every answer takes 100 ms of fake time.
		const slow = async (): Promise<Response> => {
			await new Promise(resolve => {
				setTimeout(resolve, 100);
			});
			return new Response('{}');
		};

		const operations = [op('a1'), op('a2'), op('b1')];
		const unlimited = runBatch(operations, {lanes: lanes(), baseUrl: origin, fetch: slow});
		await vi.advanceTimersByTimeAsync(200);
		const summary = await unlimited;
		expect(summary.elapsedMs).toBe(200);
		expect(summary.criticalPath).toEqual({ms: 200, by: 'busiest lane'});
		expect(summary.efficiency).toBe(1);
		expect(summary.lanes.map(lane => [lane.key, lane.busyMs])).toEqual([
			['api.test/objects/a', 200],
			['api.test/objects/b', 100],
		]);

		const one = runBatch(operations, {lanes: lanes({concurrency: 1}), baseUrl: origin, fetch: slow, limits: {concurrency: 1}});
		await vi.advanceTimersByTimeAsync(300);
		const serial = await one;
		expect(serial.criticalPath).toEqual({ms: 300, by: 'concurrency'});
		expect(serial.efficiency).toBe(1);

		const paced = runBatch(operations, {lanes: lanes(), baseUrl: origin, fetch: slow, limits: {rateLimit: {limit: 1, interval: 1000}}});
		await vi.advanceTimersByTimeAsync(200);
		expect((await paced).criticalPath).toEqual({ms: 2000, by: 'rate limit'});
	} finally {
		vi.useRealTimers();
	}
});

test('runBatch() - invalid options name the option', async () => {
	const instance = lanes();
	await expect(runBatch([], {lanes: {} as never})).rejects.toThrow('Expected `lanes` to be a lanes instance (from `createLanes()`)');
	await expect(runBatch([], {lanes: instance, window: 0})).rejects.toThrow('Expected `window` to be an integer >= 1, got `0` (number)');
	await expect(runBatch([], {lanes: instance, onFailure: 'stop' as 'skip'})).rejects.toThrow("Expected `onFailure` to be `'skip'` or `'continue'`");
	await expect(runBatch([], {lanes: instance, journal: {} as BatchJournal})).rejects.toThrow('Expected `journal` to be an object with `has()` and `append()`');
	await expect(runBatch([], {lanes: instance, baseUrl: 'https://user:pw@api.test/x?k=1'})).rejects.toThrow(
		'Expected `baseUrl` to be an absolute http(s) URL without user name or password, got `"https://api.test/x"` (string)',
	);
	await expect(runBatch('ops' as never, {lanes: instance})).rejects.toThrow('Expected `operations` to be an array, an iterable or an async iterable of operations');
	await expect(runBatch([op('a1')], {lanes: instance})).rejects.toThrow('Expected `baseUrl` to be set: `operations[0].path` is relative');
});
