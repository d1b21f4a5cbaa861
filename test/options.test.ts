import {afterEach, expect, test, vi} from 'vitest';
import {createLanes, type LanesOptions} from '../src/index.js';

afterEach(() => {
	vi.useRealTimers();
});

const invalidOptions: Array<[options: unknown, message: string]> = [
	[5, 'Expected `options` to be an object, got `5` (number)'],
	[null, 'Expected `options` to be an object, got `null` (null)'],
	['shared', 'Expected `options` to be an object, got `"shared"` (string)'],
	[{reads: 'serial'}, "Expected `reads` to be `'parallel'` or `'shared'`, got `\"serial\"` (string)"],
	[{reads: null}, "Expected `reads` to be `'parallel'` or `'shared'`, got `null` (null)"],
	[{concurrency: 0}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `0` (number)'],
	[{concurrency: 1.5}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `1.5` (number)'],
	[{concurrency: -1}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `-1` (number)'],
	[{concurrency: Number.NaN}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `NaN` (number)'],
	[{concurrency: Number.NEGATIVE_INFINITY}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `-Infinity` (number)'],
	[{concurrency: '2'}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `"2"` (string)'],
	[{concurrency: null}, 'Expected `concurrency` to be an integer >= 1 or Infinity, got `null` (null)'],
	[{rateLimit: true}, 'Expected `rateLimit` to be an object `{limit, interval}` or `false`, got `true` (boolean)'],
	[{rateLimit: null}, 'Expected `rateLimit` to be an object `{limit, interval}` or `false`, got `null` (null)'],
	[{rateLimit: 5}, 'Expected `rateLimit` to be an object `{limit, interval}` or `false`, got `5` (number)'],
	[{rateLimit: {limit: 0, interval: 1000}}, 'Expected `rateLimit.limit` to be an integer >= 1, got `0` (number)'],
	[{rateLimit: {limit: 2.5, interval: 1000}}, 'Expected `rateLimit.limit` to be an integer >= 1, got `2.5` (number)'],
	[{rateLimit: {interval: 1000}}, 'Expected `rateLimit.limit` to be an integer >= 1, got `undefined` (undefined)'],
	[{rateLimit: {limit: 1}}, 'Expected `rateLimit.interval` to be a finite number of milliseconds > 0, got `undefined` (undefined)'],
	[{rateLimit: {limit: 1, interval: 0}}, 'Expected `rateLimit.interval` to be a finite number of milliseconds > 0, got `0` (number)'],
	[{rateLimit: {limit: 1, interval: Number.POSITIVE_INFINITY}}, 'Expected `rateLimit.interval` to be a finite number of milliseconds > 0, got `Infinity` (number)'],
	[{rateLimit: {limit: 1, interval: '1000'}}, 'Expected `rateLimit.interval` to be a finite number of milliseconds > 0, got `"1000"` (string)'],
	[{retry: 'often'}, 'Expected `retry` to be an object, a number or `false`, got `"often"` (string)'],
	[{retry: true}, 'Expected `retry` to be an object, a number or `false`, got `true` (boolean)'],
	[{retry: null}, 'Expected `retry` to be an object, a number or `false`, got `null` (null)'],
	[{retry: -1}, 'Expected `retry.limit` to be an integer >= 0, got `-1` (number)'],
	[{retry: 1.5}, 'Expected `retry.limit` to be an integer >= 0, got `1.5` (number)'],
	[{retry: {limit: -1}}, 'Expected `retry.limit` to be an integer >= 0, got `-1` (number)'],
	[{retry: {methods: 'GET'}}, 'Expected `retry.methods` to be an array of method names, got `"GET"` (string)'],
	[{retry: {methods: ['GET', '']}}, 'Expected `retry.methods` to be an array of method names, got `[array of 2]` (array)'],
	[{retry: {statusCodes: [503, 99]}}, 'Expected `retry.statusCodes` to be an array of HTTP status codes, got `[array of 2]` (array)'],
	[{retry: {statusCodes: 503}}, 'Expected `retry.statusCodes` to be an array of HTTP status codes, got `503` (number)'],
	[{retry: {networkErrors: 'yes'}}, 'Expected `retry.networkErrors` to be a boolean, got `"yes"` (string)'],
	[{retry: {maxRetryAfter: -1}}, 'Expected `retry.maxRetryAfter` to be a number >= 0 or `false`, got `-1` (number)'],
	[{retry: {maxRetryAfter: true}}, 'Expected `retry.maxRetryAfter` to be a number >= 0 or `false`, got `true` (boolean)'],
	[{retry: {backoff: {base: -1}}}, 'Expected `retry.backoff.base` to be a finite number of milliseconds >= 0, got `-1` (number)'],
	[{retry: {backoff: {max: 'x'}}}, 'Expected `retry.backoff.max` to be a finite number of milliseconds >= 0, got `"x"` (string)'],
	[{maxQueuePerKey: 0}, 'Expected `maxQueuePerKey` to be an integer >= 1 or `false`, got `0` (number)'],
	[{maxQueuePerKey: 1.5}, 'Expected `maxQueuePerKey` to be an integer >= 1 or `false`, got `1.5` (number)'],
	[{maxQueuePerKey: true}, 'Expected `maxQueuePerKey` to be an integer >= 1 or `false`, got `true` (boolean)'],
	[{maxQueuePerKey: Number.POSITIVE_INFINITY}, 'Expected `maxQueuePerKey` to be an integer >= 1 or `false`, got `Infinity` (number)'],
	[{maxQueuePerKey: '10'}, 'Expected `maxQueuePerKey` to be an integer >= 1 or `false`, got `"10"` (string)'],
	[{queueTimeout: -1}, 'Expected `queueTimeout` to be a finite number of milliseconds >= 0 or `false`, got `-1` (number)'],
	[{queueTimeout: Number.NaN}, 'Expected `queueTimeout` to be a finite number of milliseconds >= 0 or `false`, got `NaN` (number)'],
	[{queueTimeout: Number.POSITIVE_INFINITY}, 'Expected `queueTimeout` to be a finite number of milliseconds >= 0 or `false`, got `Infinity` (number)'],
	[{queueTimeout: '10'}, 'Expected `queueTimeout` to be a finite number of milliseconds >= 0 or `false`, got `"10"` (string)'],
	[{queueTimeout: true}, 'Expected `queueTimeout` to be a finite number of milliseconds >= 0 or `false`, got `true` (boolean)'],
	[{backend: null}, 'Expected `backend` to be a lock backend such as `memoryBackend()`, got `null` (null)'],
	[{backend: 'memory'}, 'Expected `backend` to be a lock backend such as `memoryBackend()`, got `"memory"` (string)'],
	[{backend: {}}, 'Expected `backend` to be a lock backend such as `memoryBackend()`, got `[Object]` (object)'],
	[{backend: {name: 'custom'}}, 'Expected `backend.acquire` to be a function, got `undefined` (undefined)'],
	[{backend: {name: 'custom', acquire: 5}}, 'Expected `backend.acquire` to be a function, got `5` (number)'],
	[{fetch: 'fetch'}, 'Expected `fetch` to be a fetch function, got `"fetch"` (string)'],
	[{fetch: null}, 'Expected `fetch` to be a fetch function, got `null` (null)'],
	[{keys: 5}, 'Expected `keys` to be a key rule function, an array of patterns or a preset, got `5` (number)'],
	[{keys: 'objects'}, 'Expected `keys` to be a key rule function, an array of patterns or a preset, got `"objects"` (string)'],
	[{keys: null}, 'Expected `keys` to be a key rule function, an array of patterns or a preset, got `null` (null)'],
	[{keys: {rule: 5}}, 'Expected `keys.rule` to be a function, got `5` (number)'],
	[{keys: {rule: () => undefined, name: 5}}, 'Expected `keys.name` to be a string, got `5` (number)'],
	[{keys: {rule: () => undefined, name: 'api', readsBody: 1}}, 'Expected `keys.readsBody` to be a boolean, got `1` (number)'],
	[{keys: {rule: () => undefined, name: 'api', observe: 1}}, 'Expected `keys.observe` to be a function, got `1` (number)'],
	[{keys: [5]}, 'Expected `keys[0]` to be a path pattern string or an object `{pattern, key?, methods?, kind?}`, got `5` (number)'],
	[{cache: 'yes'}, 'Expected `cache` to be a boolean or `{maxEntries, maxBodyBytes}`, got `"yes"` (string)'],
	[{cache: null}, 'Expected `cache` to be a boolean or `{maxEntries, maxBodyBytes}`, got `null` (null)'],
	[{cache: {maxEntries: 0}}, 'Expected `cache.maxEntries` to be an integer >= 1, got `0` (number)'],
	[{cache: {maxEntries: 1.5}}, 'Expected `cache.maxEntries` to be an integer >= 1, got `1.5` (number)'],
	[{cache: {maxBodyBytes: -1}}, 'Expected `cache.maxBodyBytes` to be an integer >= 0, got `-1` (number)'],
	[{coalesce: 'yes'}, 'Expected `coalesce` to be a boolean, got `"yes"` (string)'],
	[{coalesce: null}, 'Expected `coalesce` to be a boolean, got `null` (null)'],
	[{coalesce: true, reads: 'shared'}, "`coalesce` needs `reads: 'parallel'`: in 'shared' mode a read must see the writes queued before it"],
	[{uncertain: 5}, "Expected `uncertain` to be `'settle'`, `'verify'`, `'fail'` or `{policy, graceMs}`, got `5` (number)"],
	[{uncertain: 'retry'}, "Expected `uncertain.policy` to be `'settle'`, `'verify'` or `'fail'`, got `\"retry\"` (string)"],
	[{uncertain: {}}, "Expected `uncertain.policy` to be `'settle'`, `'verify'` or `'fail'`, got `undefined` (undefined)"],
	[{uncertain: {policy: 'settle', graceMs: -1}}, 'Expected `uncertain.graceMs` to be a finite number of milliseconds >= 0, got `-1` (number)'],
	[{uncertain: {policy: 'fail', graceMs: Number.POSITIVE_INFINITY}}, 'Expected `uncertain.graceMs` to be a finite number of milliseconds >= 0, got `Infinity` (number)'],
	[{supersede: 1}, 'Expected `supersede` to be a boolean, got `1` (number)'],
	[{supersede: null}, 'Expected `supersede` to be a boolean, got `null` (null)'],
	[{idempotencyKeys: 'Idempotency-Key'}, 'Expected `idempotencyKeys` to be a boolean or `{header}`, got `"Idempotency-Key"` (string)'],
	[{idempotencyKeys: null}, 'Expected `idempotencyKeys` to be a boolean or `{header}`, got `null` (null)'],
	[{idempotencyKeys: {header: ''}}, 'Expected `idempotencyKeys.header` to be a header name, got `""` (string)'],
	[{idempotencyKeys: {header: 'idempotency key'}}, 'Expected `idempotencyKeys.header` to be a header name, got `"idempotency key"` (string)'],
	[{idempotencyKeys: {header: 5}}, 'Expected `idempotencyKeys.header` to be a header name, got `5` (number)'],
	[{pacing: 'no'}, 'Expected `pacing` to be a boolean or `{mode, probe, maxBuckets, maxWait}`, got `"no"` (string)'],
	[{pacing: null}, 'Expected `pacing` to be a boolean or `{mode, probe, maxBuckets, maxWait}`, got `null` (null)'],
	[{pacing: {maxBuckets: 0}}, 'Expected `pacing.maxBuckets` to be an integer >= 1, got `0` (number)'],
];

test.each(invalidOptions)('createLanes(%j) - throws a TypeError naming the option, the value and its type', (options, message) => {
	expect(() => createLanes(options as LanesOptions)).toThrow(new TypeError(message));
	try {
		createLanes(options as LanesOptions);
	} catch (error) {
		expect((error as Error).constructor).toBe(TypeError);
	}
});

test('createLanes() - an unknown option name throws a TypeError listing the known ones', () => {
	// The list grows with the library; its head and its format are fixed.
	const known = /^known options: keys, reads, concurrency, rateLimit, retry, maxQueuePerKey, queueTimeout, backend, fetch(, [a-zA-Z]+)*$/;
	for (const name of ['foo', 'Concurrency', 'queue_timeout', 'signal']) {
		const error = (() => {
			try {
				createLanes({[name]: 1} as LanesOptions);
			} catch (error_) {
				return error_ as Error;
			}

			return undefined;
		})();
		expect(error).toBeInstanceOf(TypeError);
		const [head, list] = error!.message.split('; ');
		expect(head).toBe(`Unknown option \`${name}\``);
		expect(list).toMatch(known);
	}
});

/*
Bug: `uncertain: null` is taken as "not set" (`value ?? default`), while every other option rejects
`null`. Fix: in `normalizeUncertain()`, use the default only for `undefined`.
*/
test('createLanes({uncertain: null}) - null is rejected like for every other option', () => {
	expect(() => createLanes({uncertain: null} as unknown as LanesOptions)).toThrow(
		new TypeError("Expected `uncertain` to be `'settle'`, `'verify'`, `'fail'` or `{policy, graceMs}`, got `null` (null)"),
	);
});

/*
Bug: an array passes the object check (and `[]` has no unknown keys), so `createLanes([])` returns
an instance. Fix: also reject `Array.isArray(options)` in `normalizeOptions()`.
*/
test('createLanes([]) - an array is not an options object', () => {
	expect(() => createLanes([] as LanesOptions)).toThrow(new TypeError('Expected `options` to be an object, got `[array of 0]` (array)'));
});

test('createLanes() - valid edge values and undefined fields are accepted', () => {
	const valid: LanesOptions[] = [
		{},
		{
			reads: undefined,
			concurrency: undefined,
			rateLimit: undefined,
			retry: undefined,
			maxQueuePerKey: undefined,
			queueTimeout: undefined,
			backend: undefined,
			fetch: undefined,
			keys: undefined,
			cache: undefined,
			coalesce: undefined,
			uncertain: undefined,
			supersede: undefined,
			idempotencyKeys: undefined,
			pacing: undefined,
		},
		{reads: 'parallel'},
		{reads: 'shared'},
		{concurrency: 1},
		{concurrency: Number.POSITIVE_INFINITY},
		{rateLimit: false},
		{rateLimit: {limit: 1, interval: 0.5}},
		{retry: false},
		{retry: 0},
		{retry: {limit: 0, methods: [], statusCodes: [], maxRetryAfter: false, backoff: () => 0}},
		{maxQueuePerKey: false},
		{maxQueuePerKey: 1},
		{queueTimeout: false},
		{queueTimeout: 0},
		{backend: {name: 'custom', inProcess: true}},
		{keys: ['/objects/:id/**']},
		{cache: true},
		{cache: {maxEntries: 1, maxBodyBytes: 0}},
		{coalesce: true},
		{coalesce: false, reads: 'shared'},
		{uncertain: 'fail'},
		{uncertain: {policy: 'verify', graceMs: 0}},
		{supersede: true},
		{idempotencyKeys: true},
		{idempotencyKeys: {header: 'X-Request-Id'}},
		{idempotencyKeys: {}},
		{pacing: false},
	];
	for (const options of valid) {
		expect(() => createLanes(options)).not.toThrow();
	}

	expect(() => createLanes()).not.toThrow();
	expect(() => createLanes(undefined)).not.toThrow();
});

test('createLanes() - the caller’s options object is read, never changed', () => {
	const options = {
		reads: 'shared',
		concurrency: 4,
		rateLimit: {limit: 5, interval: 1000},
		retry: {limit: 3, methods: ['put'], statusCodes: [503], backoff: {base: 10, max: 100}},
		maxQueuePerKey: 100,
		queueTimeout: 5000,
		keys: ['/objects/:id/**'],
		cache: {maxEntries: 10},
		uncertain: {policy: 'verify', graceMs: 10},
		idempotencyKeys: {header: 'X-Request-Id'},
	} as const;
	const snapshot = structuredClone(options);
	const deepFreeze = (value: unknown): void => {
		if (typeof value === 'object' && value !== null) {
			Object.freeze(value);
			for (const child of Object.values(value)) {
				deepFreeze(child);
			}
		}
	};

	deepFreeze(options);
	expect(() => createLanes(options)).not.toThrow();
	expect(options).toEqual(snapshot);
	// Unfrozen too: nothing is added, such as defaults.
	const open = structuredClone(snapshot);
	createLanes(open);
	expect(open).toEqual(snapshot);
	expect(Object.keys(open)).toEqual(Object.keys(snapshot));
});

test('createLanes() - changing the caller’s rateLimit object later does not change the instance', async () => {
	vi.useFakeTimers();
	const start = Date.now();
	const rateLimit = {limit: 1, interval: 1000};
	const lanes = createLanes({rateLimit});
	rateLimit.limit = 100;
	rateLimit.interval = 1;
	const log: number[] = [];
	const done = ['a', 'b', 'c'].map(key => lanes.write(key, () => log.push(Date.now() - start)));
	await vi.advanceTimersByTimeAsync(2000);
	await Promise.all(done);
	expect(log).toEqual([0, 1000, 2000]);
	await lanes.close();
});

test('.write() and .read() - invalid arguments reject with a TypeError and queue nothing', async () => {
	for (const lanes of [createLanes(), createLanes({concurrency: 2})]) {
		await expect(lanes.write('a', undefined as never)).rejects.toThrow(new TypeError('Expected `fn` to be a function, got `undefined` (undefined)'));
		await expect(lanes.read('a', 'task' as never)).rejects.toThrow(new TypeError('Expected `fn` to be a function, got `"task"` (string)'));
		await expect(lanes.write('', () => 1)).rejects.toThrow(new TypeError('Expected `key` to be a non-empty string with at least one segment, got `""` (string)'));
		await expect(lanes.write('///', () => 1)).rejects.toThrow(new TypeError('Expected `key` to be a non-empty string with at least one segment, got `"///"` (string)'));
		await expect(lanes.write(5 as never, () => 1)).rejects.toThrow(new TypeError('Expected `key` to be a string or an array of strings, got `5` (number)'));
		await expect(lanes.read(undefined as never, () => 1)).rejects.toThrow(
			new TypeError('Expected `key` to be a string or an array of strings, got `undefined` (undefined)'),
		);
		expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	}
});
