import {afterEach, expect, test} from 'vitest';
import {BodyParseError, capacities, createLanes, isBodyParseError, isWritelaneError, type LanesOptions, type Preset} from '../src/index.js';
import {startServer, type TestServer} from './http-helpers.js';

// The error contract: every failure is one of ours, precise, and free of credentials.

const password = 'pw-Secret-7731';
const token = 'qs-Secret-4402';
const bearer = 'hdr-Secret-9917';

let server: TestServer | undefined;
afterEach(async () => {
	await server?.close();
	server = undefined;
});

/** A server that answers every GET with `body` (JSON content type) and every write with 200. */
async function serve(body: string): Promise<TestServer> {
	server = await startServer((_request, _body, response) => {
		response.setHeader('content-type', 'application/json');
		response.end(_request.method === 'GET' ? body : '{}');
	});
	return server;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
	try {
		await promise;
	} catch (error) {
		return error as Error;
	}

	throw new Error('expected a rejection');
}

test('update() - a body that is not JSON rejects with BodyParseError: status, request, and an excerpt without credentials', async () => {
	const {url} = await serve(`<html>Unauthorized: Bearer ${bearer} used token=${token}</html>`);
	const lanes = createLanes();
	const error = await rejection(lanes.update(`${url}/object?token=${token}`, state => state, {headers: {authorization: `Bearer ${bearer}`}}));
	expect(error).toBeInstanceOf(BodyParseError);
	expect(isWritelaneError(error) && isBodyParseError(error)).toBe(true);
	const parseError = error as BodyParseError;
	expect(parseError.status).toBe(200);
	expect(parseError.request).toBe(`GET ${url}/object`);
	expect(parseError.excerpt).toBe('<html>Unauthorized: [redacted] used token=[redacted]</html>');
	expect(parseError.message).toBe(`GET ${url}/object answered 200 with a body that is not JSON: "<html>Unauthorized: [redacted] used token=[redacted]</html>"`);
	expect(parseError.key).toEqual([`127.0.0.1:${new URL(url).port}/object`]);
	expect(parseError.cause).toBeUndefined();
	expect(`${parseError.stack}`).not.toMatch(/Secret/);
	expect(server!.log).toEqual([`GET /object?token=${token}`]);
});

test('update() - the excerpt keeps words that contain a short header value; values of 8 characters or more are still blanked', async () => {
	// `x-call: a` and the 7-character values are too short to be credentials; `x-eight` (8) and the query value are not.
	const {url} = await serve('<html>no JSON at this path: call a, step abcdefg, sig abcdefgh, q q-1234567, run 1234567</html>');
	const lanes = createLanes();
	const headers = {'x-call': 'a', 'x-seven': 'abcdefg', 'x-eight': 'abcdefgh'};
	const error = (await rejection(lanes.update(`${url}/object?run=1234567&q=q-1234567`, state => state, {headers}))) as BodyParseError;
	expect(error).toBeInstanceOf(BodyParseError);
	expect(error.excerpt).toBe('<html>no JSON at this path: call a, step abcdefg, sig [redacted], q [redacted], run 1234567</html>');
});

test('update() - the excerpt is short, and an empty body says so', async () => {
	const {url} = await serve(`not json ${'x'.repeat(500)}`);
	const lanes = createLanes();
	const long = (await rejection(lanes.update(`${url}/a`, state => state))) as BodyParseError;
	expect(long.excerpt).toHaveLength(120);
	expect(long.excerpt.endsWith('…')).toBe(true);
	await server!.close();
	const empty = await serve('');
	const error = (await rejection(lanes.update(`${empty.url}/a`, state => state))) as BodyParseError;
	expect(error.message).toBe(`GET ${empty.url}/a answered 200 with an empty body where JSON was expected`);
	expect(error.excerpt).toBe('');
});

test('update() - the lane is free again after a body that is not JSON', async () => {
	const {url} = await serve('nope');
	const lanes = createLanes();
	await rejection(lanes.update(`${url}/a`, state => state));
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0});
	const written = await lanes.write(`127.0.0.1:${new URL(url).port}/a`, () => 'ran');
	expect(written).toBe('ran');
});

const unencodable: ReadonlyArray<readonly [string, unknown, string]> = [
	['a symbol', Symbol('state'), '`Symbol(state)` (symbol)'],
	['a function', function next() {}, '`function next` (function)'],
	['a bigint', 10n, '`10n` (bigint)'],
	['an object holding a bigint', {count: 10n}, '`[Object]` (object) (Do not know how to serialize a BigInt)'],
	['an object whose toJSON() gives nothing', {toJSON: () => undefined}, '`[Object]` (object) (`JSON.stringify()` gives `undefined`)'],
];

for (const [what, value, shown] of unencodable) {
	test(`update() - mutate returning ${what} rejects with a TypeError and sends no write`, async () => {
		const {url} = await serve('{"n":1}');
		const lanes = createLanes();
		const error = await rejection(lanes.update(`${url}/a`, () => value as never));
		expect(error).toBeInstanceOf(TypeError);
		expect(error.message).toBe(`Expected \`mutate\` to return a value JSON can encode, or \`undefined\` to write nothing, got ${shown}`);
		expect(server!.log).toEqual(['GET /a']);
		expect(lanes.stats()).toMatchObject({active: 0, queued: 0});
	});
}

test('update() - mutate returning a cycle rejects with a TypeError naming the cycle, nothing written', async () => {
	const {url} = await serve('{"n":1}');
	const lanes = createLanes();
	const error = await rejection(
		lanes.update(`${url}/a`, (state: Record<string, unknown>) => {
			state.self = state;
			return state;
		}),
	);
	expect(error).toBeInstanceOf(TypeError);
	expect(error.message).toMatch(/^Expected `mutate` to return a value JSON can encode, or `undefined` to write nothing, got `\[Object\]` \(object\) \(Converting circular structure to JSON\)$/);
	expect(server!.log).toEqual(['GET /a']);
});

const badUrls: ReadonlyArray<readonly [string, string, string]> = [
	['user info', `http://user:${password}@127.0.0.1:9/a?token=${token}`, 'Expected `url` to have no user name or password (fetch refuses them; send credentials in a header such as `Authorization`), got `"http://127.0.0.1:9/a"` (string)'],
	['a user name only', `http://${token}@127.0.0.1:9/a`, 'Expected `url` to have no user name or password (fetch refuses them; send credentials in a header such as `Authorization`), got `"http://127.0.0.1:9/a"` (string)'],
	['a host the parser rejects', `http://[bad/a?token=${token}`, 'Expected `url` to be an absolute http(s) URL, got `"http://[bad/a"` (string)'],
	['a relative URL', `/a?token=${token}`, 'Expected `url` to be an absolute http(s) URL, got `"/a"` (string)'],
	['another scheme', `ftp://user:${password}@files.example/a?token=${token}`, 'Expected `url` to be an absolute http(s) URL, got `"ftp://files.example/a"` (string)'],
];

for (const [what, url, message] of badUrls) {
	test(`lanes.fetch() and update() - a URL with ${what} rejects with our TypeError, no credentials in it`, async () => {
		const lanes = createLanes();
		for (const promise of [lanes.fetch(url), lanes.fetch(url, {method: 'PATCH', headers: {'content-type': 'application/json'}, body: '{}'}), lanes.update(url, state => state)]) {
			const error = await rejection(promise);
			expect(error).toBeInstanceOf(TypeError);
			expect(error.message).toBe(message);
			expect(error.cause).toBeUndefined();
			expect(`${error.stack}`).not.toMatch(/Secret/);
		}

		expect(lanes.stats()).toMatchObject({active: 0, queued: 0});
	});
}

test('update() - an invalid writeUrl is refused before anything is sent', async () => {
	const {url} = await serve('{"n":1}');
	const lanes = createLanes();
	const error = await rejection(lanes.update(`${url}/a`, state => state, {writeUrl: `http://u:${password}@127.0.0.1:9/w?token=${token}`}));
	expect(error.message).toBe(
		'Expected `url` to have no user name or password (fetch refuses them; send credentials in a header such as `Authorization`), got `"http://127.0.0.1:9/w"` (string)',
	);
	expect(server!.log).toEqual([]);
});

test('lanes.fetch() - a header value the platform refuses is reported without the value', async () => {
	const lanes = createLanes();
	const error = await rejection(lanes.fetch('http://127.0.0.1:9/a', {headers: {authorization: `Bearer ${bearer}\n`, 'x-api-key': `${token}\r\nx: y`}}));
	expect(error).toBeInstanceOf(TypeError);
	expect(error.message).toMatch(/^The request could not be built: /);
	expect(`${error.message} ${error.stack}`).not.toMatch(/Secret/);
});

const unknownNested: ReadonlyArray<readonly [LanesOptions, string]> = [
	[{retry: {limt: 1}} as LanesOptions, 'Unknown option `retry.limt`; known options of `retry`: limit, methods, statusCodes, networkErrors, backoff, maxRetryAfter'],
	[{retry: {backoff: {bas: 1}}} as LanesOptions, 'Unknown option `retry.backoff.bas`; known options of `retry.backoff`: base, max'],
	[{pacing: {foo: true}} as LanesOptions, 'Unknown option `pacing.foo`; known options of `pacing`: mode, probe, maxBuckets, maxWait'],
	[{uncertain: {policy: 'settle', grace: 5}} as LanesOptions, 'Unknown option `uncertain.grace`; known options of `uncertain`: policy, graceMs'],
	[{rateLimit: {limit: 1, interval: 1000, x: 1}} as LanesOptions, 'Unknown option `rateLimit.x`; known options of `rateLimit`: limit, interval'],
	[{cache: {maxEntry: 5}} as LanesOptions, 'Unknown option `cache.maxEntry`; known options of `cache`: maxEntries, maxBodyBytes'],
	[{idempotencyKeys: {headers: 'X'}} as LanesOptions, 'Unknown option `idempotencyKeys.headers`; known options of `idempotencyKeys`: header'],
];

for (const [options, message] of unknownNested) {
	test(`createLanes(${JSON.stringify(options)}) - an unknown nested option name throws a TypeError listing the known ones`, () => {
		expect(() => createLanes(options)).toThrow(new TypeError(message));
	});
}

test('createLanes() - known nested names are still accepted', () => {
	expect(() =>
		createLanes({
			retry: {limit: 1, methods: ['GET'], statusCodes: [503], networkErrors: false, backoff: {base: 1, max: 2}, maxRetryAfter: 5},
			pacing: {probe: true, maxBuckets: 5},
			uncertain: {policy: 'verify', graceMs: 5},
			rateLimit: {limit: 1, interval: 1000},
			cache: {maxEntries: 1, maxBodyBytes: 1},
			idempotencyKeys: {header: 'X-Key'},
		}),
	).not.toThrow();
});

const rule: Preset['rule'] = () => 'k';
const unknownPresetFields: ReadonlyArray<readonly [Preset, string]> = [
	[{name: 'p', rule, readBody: true} as unknown as Preset, 'Unknown option `keys.readBody`; known options of `keys`: name, rule, readsBody, observe, learn, versioning, isConflict, readUrl, bucket, rateLimit, idempotency'],
	[{name: 'p', rule, versioning: {type: 'etag', raed: () => 1}} as unknown as Preset, 'Unknown option `keys.versioning.raed`; known options of `keys.versioning`: type, read, write'],
	[{name: 'p', rule, rateLimit: {limit: 1, intervall: 5}} as unknown as Preset, 'Unknown option `keys.rateLimit.intervall`; known options of `keys.rateLimit`: limit, interval'],
	[{name: 'p', rule, idempotency: {field: 'k'}} as unknown as Preset, 'Unknown option `keys.idempotency.field`; known options of `keys.idempotency`: header, bodyField'],
];

for (const [preset, message] of unknownPresetFields) {
	test(`createLanes({keys: preset}) - an unknown preset field throws (${message.split('`')[1]})`, () => {
		expect(() => createLanes({keys: preset})).toThrow(new TypeError(message));
	});
}

test('capacities() - an unknown option name throws a TypeError listing the known ones', () => {
	expect(() => capacities({blockOwner: 5} as never)).toThrow(new TypeError('Unknown option `capacities().blockOwner`; known options of `capacities()`: blockOwners'));
	expect(() => capacities({blockOwners: 5})).not.toThrow();
});
