import type {IncomingHttpHeaders} from 'node:http';
import fc from 'fast-check';
import {afterEach, expect, test} from 'vitest';
import {capacities, createLanes} from '../src/index.js';
import {compileKeys} from '../src/keys/compile.js';
import {defaultKey} from '../src/keys/normalize.js';
import {defaultKeyOf, directLaneRequest, toLaneRequest, urlPart} from '../src/keys/request.js';
import type {LaneRequest} from '../src/keys/types.js';
import {flush} from './helpers.js';
import {deferred, startServer, type TestServer} from './http-helpers.js';

/*
The direct path: a call given as a URL and a replayable `RequestInit` is keyed and sent without a
`Request`. What the key rule sees of it must be what it would see of `new Request(input, init)`,
and it must refuse (return `undefined`) whatever it cannot judge, so the `Request` path decides.
Then, through `lanes.fetch` against a loopback server: what is sent is what the caller passed at
call time, the transport gets fetch's own arguments, and retries resend the body.
*/

/** A `LaneRequest` as plain data, headers in the order `Headers` iterates them. */
function plain(request: LaneRequest) {
	return {method: request.method, url: request.url.href, headers: [...request.headers], body: request.body};
}

// --- directLaneRequest() equals the Request path ------------------------------------------------

const schemes = ['http', 'https', 'HTTP', 'hTtPs'];
const hosts = ['api.example.com', 'API.Example.COM', 'example.org.', '127.0.0.1', '0x7f.1', '[::1]', '[0:0::1]', 'bücher.example', 'xn--bcher-kva.example'];
const ports = ['', '', ':80', ':443', ':8080', ':08080', ':'];
const segments = ['a', 'B', 'objects', '9f2C', '.', '..', '%2e', '%2E%2e', '.%2E', '.a', '%41', '%7e', '%7E', '%2F', '%2f', '%zz', '%', '%4', '[x]', '^|', 'é', '%C3%A9', '%c3%a9', '', ' ', 'a b', '\\', '~x', '!$&()*+,;=:@', '"<>`{}'];
const queries = ['', '?', '?a=1', '?A=%41&b=c+d', '?x=é', '?q=a b', '?id=9F2C&id=', '?%zz'];
const fragments = ['', '#', '#frag', '#a/b?c'];

const urlArbitrary = fc
	.record({
		scheme: fc.constantFrom(...schemes),
		host: fc.constantFrom(...hosts),
		port: fc.constantFrom(...ports),
		path: fc.array(fc.constantFrom(...segments), {maxLength: 6}),
		trailing: fc.constantFrom('', '/', '//', '/.', '/..'),
		query: fc.constantFrom(...queries),
		fragment: fc.constantFrom(...fragments),
	})
	.map(({scheme, host, port, path, trailing, query, fragment}) => `${scheme}://${host}${port}/${path.join('/')}${trailing}${query}${fragment}`);

const methodArbitrary = fc.constantFrom('GET', 'get', 'Get', 'HEAD', 'head', 'POST', 'post', 'PUT', 'put', 'PATCH', 'patch', 'DELETE', 'delete', 'OPTIONS', 'M-SEARCH', 'PROPFIND', "x!#$%&'*+.^`|~_9");

const contentTypes = [
	'application/json',
	'APPLICATION/JSON',
	' application/json ; charset=utf-8',
	'application/merge-patch+json',
	'application/vnd.api+json; charset=UTF-8',
	'text/plain',
	'text/json',
	'application/x-www-form-urlencoded',
	'',
];

const headerArbitrary = fc.oneof(
	fc.tuple(fc.constantFrom('content-type', 'Content-Type', 'CONTENT-TYPE'), fc.constantFrom(...contentTypes)),
	fc.tuple(fc.constantFrom('x-token', 'X-Token', 'accept', 'x-dup', 'X-DUP', 'if-match', 'idempotency-key', 'host', 'connection'), fc.constantFrom('a', ' padded ', '"etag"', 'x, y', '', 'Bearer t0k3n-s3cr3t')),
	// Values fetch trims or refuses, and names it refuses: the direct path must refuse what it refuses.
	fc.tuple(fc.constantFrom('x-odd', 'bad name', 'x:y', 'é', ''), fc.constantFrom('\ttab', 'trail\t', 'a\nb', '\r\nlead', 'nul\0', 'x\u0100', 'é', 'in  side')),
);

/** A header given more than once with an empty value: see the `test.fails` case below. */
function emptyRepeat(pairs: readonly [string, string][]): boolean {
	const names = pairs.map(([name]) => name.toLowerCase());
	return pairs.some(([name, value]) => value.trim() === '' && names.filter(other => other === name.toLowerCase()).length > 1);
}

type HeadersForm = 'record' | 'array' | 'Headers';
const headersFormArbitrary = fc.constantFrom<HeadersForm | undefined>('record', 'array', 'Headers', undefined);

function headersIn(form: HeadersForm | undefined, pairs: readonly [string, string][]): HeadersInit | undefined {
	if (form === undefined) {
		return undefined;
	}

	if (form === 'array') {
		return pairs.map(([name, value]) => [name, value]);
	}

	if (form === 'Headers') {
		const headers = new Headers();
		for (const [name, value] of pairs) {
			try {
				headers.append(name, value);
			} catch {
				// A `Headers` cannot hold what it refuses: the other forms carry those.
			}
		}

		return headers;
	}

	// A record keeps one value per spelling of a name; the platform merges spellings that differ in case.
	return Object.fromEntries(pairs);
}

/** JSON and other text (strings starting with a byte order mark and lone surrogates have cases of their own below). */
const textArbitrary = fc.oneof(
	fc.json(),
	fc.jsonValue().map(value => JSON.stringify(value, undefined, 1)),
	fc.constantFrom('{"id":"9f2c"}', '[1,2]', '"é😀"', ' {"a":1} ', '{"id": ', 'a=1', '', 'null', '1e3'),
	fc.string({unit: 'grapheme', maxLength: 12}).filter(text => !text.startsWith('\uFEFF')),
);

type BodyForm = {readonly type: 'none'} | {readonly type: 'null'} | {readonly type: 'string' | 'bytes' | 'buffer' | 'offset'; readonly text: string} | {readonly type: 'params'; readonly pairs: [string, string][]};

const bodyArbitrary: fc.Arbitrary<BodyForm> = fc.oneof(
	fc.constant({type: 'none'} as const),
	fc.constant({type: 'null'} as const),
	fc.record({type: fc.constantFrom('string' as const, 'bytes' as const, 'buffer' as const, 'offset' as const), text: textArbitrary}),
	fc.record({type: fc.constant('params' as const), pairs: fc.array(fc.tuple(fc.constantFrom('a', '1', 'id', ''), fc.constantFrom('', 'x', '{}', 'é')), {maxLength: 3})}),
);

const encoder = new TextEncoder();

function bodyIn(form: BodyForm): BodyInit | null | undefined {
	switch (form.type) {
		case 'none': {
			return undefined;
		}

		case 'null': {
			return null;
		}

		case 'string': {
			return form.text;
		}

		case 'bytes': {
			return encoder.encode(form.text);
		}

		case 'buffer': {
			return encoder.encode(form.text).buffer;
		}

		case 'offset': {
			// A view into the middle of a larger buffer: only its own bytes are the body.
			const bytes = encoder.encode(form.text);
			const padded = new Uint8Array(bytes.length + 6).fill(0x7b);
			padded.set(bytes, 3);
			return new Uint8Array(padded.buffer, 3, bytes.length);
		}

		case 'params': {
			return new URLSearchParams(form.pairs);
		}
	}
}

const callArbitrary = fc.record({
	url: urlArbitrary,
	asUrl: fc.boolean(),
	method: fc.option(methodArbitrary, {nil: undefined}),
	headersForm: headersFormArbitrary,
	headers: fc.array(headerArbitrary, {maxLength: 4}).filter(pairs => !emptyRepeat(pairs)),
	body: bodyArbitrary,
	signal: fc.boolean(),
	readsBody: fc.boolean(),
});

type Call = typeof callArbitrary extends fc.Arbitrary<infer T> ? T : never;

function callOf(call: Call): {input: string | URL | undefined; init: RequestInit} {
	let input: string | URL | undefined = call.url;
	if (call.asUrl) {
		try {
			input = new URL(call.url);
		} catch {
			input = undefined;
		}
	}

	const init: RequestInit = {};
	if (call.method !== undefined) {
		init.method = call.method;
	}

	const headers = headersIn(call.headersForm, call.headers);
	if (headers !== undefined) {
		init.headers = headers;
	}

	const body = bodyIn(call.body);
	if (body !== undefined) {
		init.body = body;
	}

	if (call.signal) {
		init.signal = new AbortController().signal;
	}

	return {input, init};
}

test('directLaneRequest() - equals toLaneRequest(new Request(input, init)) whenever it applies', async () => {
	let direct = 0;
	let total = 0;
	await fc.assert(
		fc.asyncProperty(callArbitrary, async call => {
			const {input, init} = callOf(call);
			if (input === undefined) {
				return;
			}

			total++;
			const expectedInput = input instanceof URL ? input.href : input;
			const got = directLaneRequest(input, init, call.readsBody);
			// The caller's URL object is never changed (normalizing works on a copy).
			expect(input instanceof URL ? input.href : input).toBe(expectedInput);
			if (got === undefined) {
				return;
			}

			direct++;
			// The direct path only takes what the platform accepts as it is.
			const request = new Request(input, init);
			const expected = await toLaneRequest(request, call.readsBody);
			// Read before anything reads `url` (from the canonical spelling where the call gave one), then after.
			for (const part of ['href', 'origin', 'pathname', 'search'] as const) {
				expect(urlPart(got, part)).toBe(expected.url[part]);
			}

			expect(defaultKeyOf(got)).toBe(defaultKey(expected.url));
			expect(plain(got)).toEqual(plain(expected));
			expect(defaultKeyOf(got)).toBe(defaultKey(expected.url));
		}),
		{numRuns: Number(process.env.WRITELANE_FUZZ_RUNS ?? 200)},
	);
	// Most generated calls are valid: the property must not pass by refusing them all.
	expect(direct).toBeGreaterThan(total / 3);
});

test('directLaneRequest() - headers given as a record are the ones of the call: a copy of the request has them, and a later change of the record is not seen', () => {
	const record: Record<string, string> = {Authorization: 'Bearer t', 'X-Id': '1'};
	const request = directLaneRequest('http://api.example.com/a', {method: 'POST', headers: record, body: 'x'}, false)!;
	record['X-Id'] = '2';
	delete record.Authorization;
	const copy = {...request, url: new URL('http://api.example.com/b')};
	for (const seen of [request, copy]) {
		expect([...seen.headers]).toEqual([
			['authorization', 'Bearer t'],
			['content-type', 'text/plain;charset=UTF-8'],
			['x-id', '1'],
		]);
	}

	// One Headers per request, made once: a rule that changes it changes nothing sent or seen elsewhere.
	expect(request.headers).toBe(request.headers);
	const other = directLaneRequest('http://api.example.com/a', {headers: record}, false)!;
	expect([...other.headers]).toEqual([['x-id', '2']]);
});

test('directLaneRequest() - code of the caller\'s gets url and headers as own properties, so a copy has them; built-in code reads the same values', async () => {
	const init = {method: 'PATCH', headers: {authorization: 'Bearer t', 'content-type': 'application/json'}, body: '{"id":"9f2c"}'};
	const url = 'http://api.example.com/object';
	for (const builtIn of [false, true]) {
		const request = directLaneRequest(url, init, true, builtIn)!;
		expect(request.url.href).toBe(url);
		expect(request.headers.get('authorization')).toBe('Bearer t');
		expect(request.body).toEqual({id: '9f2c'});
		expect(urlPart(request, 'pathname')).toBe('/object');
	}

	const copy = {...directLaneRequest(url, init, true)!};
	expect(Object.keys(copy)).toEqual(['method', 'url', 'headers', 'body']);
	expect(copy.url).toBeInstanceOf(URL);
	expect(copy.headers).toBeInstanceOf(Headers);

	// Which compiled rules count as built-in: only writelane's own hooks may get the lighter request.
	const preset = capacities();
	expect(compileKeys(undefined).builtIn).toBe(true);
	expect(compileKeys(['/objects/:id']).builtIn).toBe(true);
	expect(compileKeys(preset).builtIn).toBe(true);
	expect(compileKeys({name: 'mine', rule: preset.rule}).builtIn).toBe(true);
	expect(compileKeys(() => 'k').builtIn).toBe(false);
	expect(compileKeys({...preset, bucket: () => 'b'}).builtIn).toBe(false);
	expect(compileKeys({...preset, learn: {when: () => false, body() {}}}).builtIn).toBe(false);
	expect(compileKeys({name: 'mine', rule: preset.rule, readUrl: () => undefined}).builtIn).toBe(false);

	// Through lanes.fetch: a rule and a preset hook of the caller's each get a request they can copy.
	const copies: LaneRequest[] = [];
	const send = async () => new Response('{}', {headers: {'content-type': 'application/json'}});
	const copied = <T>(request: LaneRequest, result: T): T => {
		copies.push({...request});
		return result;
	};

	const byRule = createLanes({keys: request => copied(request, 'k'), fetch: send});
	const byHook = createLanes({keys: {...preset, bucket: request => copied(request, 'b')}, fetch: send});
	await byRule.fetch(url, init);
	await byHook.fetch(url, init);
	expect(copies).toHaveLength(2);
	for (const copy of copies) {
		expect(copy.url.href).toBe(url);
		expect(copy.headers.get('authorization')).toBe('Bearer t');
	}
});

test('directLaneRequest() - a JSON body is parsed when the rule reads bodies, as the Request path parses it', () => {
	const url = 'https://api.example.com/objects';
	const json = {'content-type': 'application/json'};
	expect(directLaneRequest(url, {method: 'POST', headers: json, body: '{"id":"9f2c"}'}, true)?.body).toEqual({id: '9f2c'});
	expect(directLaneRequest(url, {method: 'POST', headers: json, body: encoder.encode('[1]')}, true)?.body).toEqual([1]);
	// A byte order mark in the bytes is dropped by UTF-8 decoding, as Response.json() drops it.
	expect(directLaneRequest(url, {method: 'POST', headers: json, body: new Uint8Array([0xef, 0xbb, 0xbf, 0x31])}, true)?.body).toBe(1);
	expect(directLaneRequest(url, {method: 'POST', headers: json, body: '{"id":"9f2c"}'}, false)?.body).toBeUndefined();
	expect(directLaneRequest(url, {method: 'POST', body: '{"id":"9f2c"}'}, true)?.body).toBeUndefined();
	expect(directLaneRequest(url, {method: 'POST', headers: json, body: new URLSearchParams({a: '1'})}, true)?.body).toBeUndefined();
	expect(directLaneRequest(url, {method: 'POST', headers: json, body: '{"id": '}, true)?.body).toBeUndefined();
});

/** What the key rule sees of the direct call and of the Request path, side by side. */
async function bothPaths(init: RequestInit) {
	const url = 'https://api.example.com/objects';
	const got = directLaneRequest(url, init, true);
	const expected = await toLaneRequest(new Request(url, init), true);
	return {direct: got && plain(got), request: plain(expected)};
}

// The Request path encodes a string body to UTF-8 and decodes it back, dropping a leading byte order
// mark and replacing lone surrogates and invalid bytes with U+FFFD: the direct path reads it alike.
test('directLaneRequest() - a string body starting with a byte order mark is parsed as the Request path parses it', async () => {
	const {direct, request} = await bothPaths({method: 'POST', headers: {'content-type': 'application/json'}, body: '\uFEFF{"id":"9f2c"}'});
	expect(request.body).toEqual({id: '9f2c'});
	expect(direct).toEqual(request);
});

test('directLaneRequest() - a string body with a lone surrogate is seen as the Request path sees it', async () => {
	const {direct, request} = await bothPaths({method: 'POST', headers: {'content-type': 'application/json'}, body: '{"id":"\uD800"}'});
	expect(request.body).toEqual({id: '\uFFFD'});
	expect(direct).toEqual(request);
});

test('directLaneRequest() - a byte body that is not valid UTF-8 is seen as the Request path sees it', async () => {
	const {direct, request} = await bothPaths({method: 'POST', headers: {'content-type': 'application/json'}, body: new Uint8Array([0x22, 0xff, 0x22])});
	expect(request.body).toBe('\uFFFD');
	expect(direct).toEqual(request);
});

// The Request path copies the request's headers into new Headers, which trims the combined value
// of a repeated header whose last value is empty (`a, ` becomes `a,`); the direct path does not.
test.fails('directLaneRequest() - a header repeated with an empty value is seen as the Request path sees it', async () => {
	const {direct, request} = await bothPaths({
		method: 'POST',
		headers: [
			['x-a', 'a'],
			['x-a', ''],
		],
	});
	expect(request.headers).toContainEqual(['x-a', 'a,']);
	expect(direct).toEqual(request);
});

test('directLaneRequest() - leaves the call to the Request path: Request input, other init fields, stream-like bodies', () => {
	const url = 'https://api.example.com/objects/9f2c';
	const cases: [string, RequestInfo | URL, RequestInit | undefined][] = [
		['a Request', new Request(url), undefined],
		['a Request with init', new Request(url), {method: 'PUT', body: 'x'}],
		['redirect', url, {redirect: 'manual'}],
		['duplex', url, {method: 'POST', body: 'x', duplex: 'half'} as RequestInit],
		['cache', url, {cache: 'no-store'}],
		['credentials', url, {credentials: 'include'}],
		['keepalive', url, {keepalive: true}],
		['a field set to undefined', url, {mode: undefined} as unknown as RequestInit],
		['a Blob body', url, {method: 'POST', body: new Blob(['x'])}],
		['a FormData body', url, {method: 'POST', body: new FormData()}],
		['a ReadableStream body', url, {method: 'POST', body: new ReadableStream(), duplex: 'half'} as RequestInit],
		['a ReadableStream body without duplex', url, {method: 'POST', body: new ReadableStream()}],
		['a signal that is not an AbortSignal', url, {signal: {aborted: false} as AbortSignal}],
	];
	for (const [name, input, init] of cases) {
		expect(directLaneRequest(input, init, true), name).toBeUndefined();
	}
});

test('directLaneRequest() - leaves to the Request path (which refuses) what fetch refuses', () => {
	const url = 'https://api.example.com/objects/9f2c';
	const cases: [string, string | URL, RequestInit | undefined][] = [
		['GET with a body', url, {body: 'x'}],
		['get with a body', url, {method: 'get', body: 'x'}],
		['GET with an empty body', url, {method: 'GET', body: ''}],
		['HEAD with a body', url, {method: 'HEAD', body: new Uint8Array([1])}],
		['head with URLSearchParams', url, {method: 'head', body: new URLSearchParams()}],
		['CONNECT', url, {method: 'CONNECT'}],
		['connect', url, {method: 'connect'}],
		['TRACE', url, {method: 'TRACE'}],
		['trace', url, {method: 'Trace'}],
		['TRACK', url, {method: 'TRACK'}],
		['a method with a space', url, {method: 'GET X'}],
		['an empty method', url, {method: ''}],
		['a method with a slash', url, {method: 'A/B'}],
		['a non-ASCII method', url, {method: 'PÜT'}],
		['a header name with a space', url, {headers: {'x bad': 'v'}}],
		['an empty header name', url, {headers: [['', 'v']]}],
		['a header value with a newline', url, {headers: {'x-a': 'a\nb'}}],
		['a header value with a NUL', url, {headers: {'x-a': 'a\u0000b'}}],
		['a header value beyond Latin-1', url, {headers: {'x-a': 'ä€'}}],
		['a malformed header pair', url, {headers: [['x-a']] as unknown as HeadersInit}],
		['a relative URL', '/objects/9f2c', undefined],
		['a protocol-relative URL', '//api.example.com/objects', undefined],
		['no URL at all', 'not a url', undefined],
		['user info', 'https://user:pass@api.example.com/x', undefined],
		['a user name', 'https://user@api.example.com/x', undefined],
		['user info in a URL object', new URL('https://user:pass@api.example.com/x'), {method: 'PUT', body: 'x'}],
		['ftp', 'ftp://api.example.com/x', undefined],
		['data', 'data:,hello', undefined],
		['file', 'file:///etc/hosts', undefined],
		['ws', 'ws://api.example.com/socket', undefined],
		['blob', 'blob:https://api.example.com/9f2c', undefined],
	];
	for (const [name, input, init] of cases) {
		expect(directLaneRequest(input, init, true), name).toBeUndefined();
	}

	// Everything above but the non-http(s) URLs is refused by the platform too.
	for (const [name, input, init] of cases.slice(0, -5)) {
		expect(() => new Request(input, init), name).toThrow(TypeError);
	}
});

test('directLaneRequest() - leaves a header record with a symbol key, enumerable or not, to the Request path', () => {
	// The platform's record conversion may read every own key, so fetch may refuse either record: `Headers` decides.
	const hidden = {'x-a': 'v'};
	Object.defineProperty(hidden, Symbol('s'), {value: 'v', enumerable: false});
	expect(directLaneRequest('https://api.example.com/x', {headers: hidden}, true)).toBeUndefined();
	expect(directLaneRequest('https://api.example.com/x', {headers: {'x-a': 'v', [Symbol('s')]: 'v'}}, true)).toBeUndefined();
	expect(directLaneRequest('https://api.example.com/x', {headers: {'x-a': 'v'}}, true)).toBeDefined();
});

// --- lanes.fetch against a loopback server ------------------------------------------------------

type Received = {readonly method: string; readonly url: string; readonly headers: IncomingHttpHeaders; readonly body: string};

let server: TestServer | undefined;

afterEach(async () => {
	await server?.close();
	server = undefined;
});

/** A server that answers 200 with what it received, and keeps each request. */
async function echoServer(answer?: (received: Received, index: number) => number) {
	const received: Received[] = [];
	server = await startServer((request, body, response) => {
		const entry = {method: request.method!, url: request.url!, headers: request.headers, body};
		received.push(entry);
		response.statusCode = answer?.(entry, received.length - 1) ?? 200;
		response.end(JSON.stringify({method: entry.method, url: entry.url, body}));
	});
	return {url: server.url, received};
}

test('lanes.fetch - a caller that changes its init, headers, bytes and URL after calling sends what it passed at call time', async () => {
	const {url, received} = await echoServer();
	const lanes = createLanes({retry: false});
	for (const form of ['record', 'array', 'Headers'] as const) {
		const held = deferred();
		const target = new URL(`${url}/items/${form}`);
		const {keys} = await lanes.keysOf(target, {method: 'PUT'});
		const holding = lanes.write(keys, () => held.promise);
		const bytes = encoder.encode(`body-${form}`);
		const headers = headersIn(form, [
			['x-v', 'one'],
			['content-type', 'application/octet-stream'],
		])!;
		const init: RequestInit = {method: 'PUT', headers, body: bytes};
		const first = lanes.fetch(target, init);
		await flush();
		// Behind the held write: nothing sent yet.
		expect(received.filter(entry => entry.url === `/items/${form}`)).toEqual([]);

		// The caller reuses everything for its next call.
		if (form === 'record') {
			(headers as Record<string, string>)['x-v'] = 'two';
		} else if (form === 'array') {
			(headers as [string, string][])[0]![1] = 'two';
			(headers as [string, string][]).push(['x-extra', 'late']);
		} else {
			(headers as Headers).set('x-v', 'two');
			(headers as Headers).set('x-extra', 'late');
		}

		bytes.fill(0x7a);
		target.pathname = `/moved/${form}`;
		init.method = 'POST';
		const second = lanes.fetch(target, init);
		init.body = 'replaced';
		init.headers = {'x-v': 'three'};

		held.resolve();
		await holding;
		const [one, two] = await Promise.all([first, second]);
		expect(await one.json()).toEqual({method: 'PUT', url: `/items/${form}`, body: `body-${form}`});
		expect(await two.json()).toEqual({method: 'POST', url: `/moved/${form}`, body: 'z'.repeat(`body-${form}`.length)});
		const sent = received.find(entry => entry.url === `/items/${form}`)!;
		expect(sent.headers['x-v'], form).toBe('one');
		expect(sent.headers['x-extra'], form).toBeUndefined();
		expect(sent.headers['content-type'], form).toBe('application/octet-stream');
		const moved = received.find(entry => entry.url === `/moved/${form}`)!;
		expect(moved.headers['x-v'], form).toBe('two');
		expect(moved.headers['x-extra'], form).toBe(form === 'record' ? undefined : 'late');
	}

	await lanes.close();
});

test('lanes.fetch - a string URL and an ArrayBuffer body changed while the call waits are sent as they were', async () => {
	const {url, received} = await echoServer();
	const lanes = createLanes({retry: false});
	const held = deferred();
	const holding = lanes.write(`127.0.0.1:${new URL(url).port}/buffer`, () => held.promise);
	const buffer = encoder.encode('before').buffer;
	const params = new URLSearchParams({a: '1'});
	const first = lanes.fetch(`${url}/buffer`, {method: 'PATCH', body: buffer});
	const second = lanes.fetch(`${url}/buffer`, {method: 'PATCH', body: params});
	await flush();
	expect(received).toEqual([]);
	new Uint8Array(buffer).fill(0x21);
	params.set('a', '2');
	held.resolve();
	await holding;
	await Promise.all([first, second]);
	expect(received.map(entry => entry.body)).toEqual(['before', 'a=1']);
	expect(received[1]!.headers['content-type']).toBe('application/x-www-form-urlencoded;charset=UTF-8');
	await lanes.close();
});

test('lanes.fetch - the fetch option gets a string URL and the init for a direct call, a Request otherwise', async () => {
	const {url, received} = await echoServer();
	const calls: {input: unknown; init: RequestInit | undefined}[] = [];
	const lanes = createLanes({
		fetch: (input, init) => {
			calls.push({input, init});
			return globalThis.fetch(input, init);
		},
	});

	await lanes.fetch(`${url}/direct`, {method: 'POST', headers: {'x-a': '1'}, body: 'text'});
	await lanes.fetch(new URL(`${url}/url-object`), {method: 'PUT', body: encoder.encode('bytes')});
	await lanes.fetch(`${url}/no-init`);
	await lanes.fetch(new Request(`${url}/request`, {method: 'PUT', body: 'from a request'}));
	const stream = new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(encoder.encode('streamed'));
			controller.close();
		},
	});
	await lanes.fetch(`${url}/stream`, {method: 'POST', body: stream, duplex: 'half'} as RequestInit);
	await lanes.fetch(`${url}/redirect`, {redirect: 'manual'});

	expect(calls).toHaveLength(6);
	const [direct, urlObject, noInit, request, streamed, redirect] = calls;
	expect(direct!.input).toBe(`${url}/direct`);
	expect(direct!.init?.method).toBe('POST');
	expect(direct!.init?.body).toBe('text');
	expect(new Headers(direct!.init?.headers).get('x-a')).toBe('1');
	expect(urlObject!.input).toBe(`${url}/url-object`);
	expect(urlObject!.init?.body).toBeInstanceOf(Uint8Array);
	expect(noInit).toEqual({input: `${url}/no-init`, init: undefined});
	for (const [name, call] of Object.entries({request, streamed, redirect})) {
		expect(call!.input, name).toBeInstanceOf(Request);
		expect(call!.init, name).toBeUndefined();
	}

	expect((redirect!.input as Request).redirect).toBe('manual');
	expect(received.map(entry => `${entry.method} ${entry.url} ${entry.body}`)).toEqual([
		'POST /direct text',
		'PUT /url-object bytes',
		'GET /no-init ',
		'PUT /request from a request',
		'POST /stream streamed',
		'GET /redirect ',
	]);
	await lanes.close();
});

test('lanes.fetch - with retry on, a PUT after a 503 is sent again with the same body, from init or from a Request', async () => {
	// Every first attempt at a path gets a 503; the retry gets a 200.
	const seen = new Map<string, number>();
	const {url, received} = await echoServer(entry => {
		const count = (seen.get(entry.url) ?? 0) + 1;
		seen.set(entry.url, count);
		return count === 1 ? 503 : 200;
	});
	const lanes = createLanes({retry: {limit: 2, backoff: () => 0}});
	const retries: string[] = [];
	lanes.on('retry', event => {
		retries.push(`${event.request?.url} ${event.status}`);
	});

	const stringBody = await lanes.fetch(`${url}/string`, {method: 'PUT', headers: {'content-type': 'application/json'}, body: '{"v":1}'});
	const bytesBody = await lanes.fetch(`${url}/bytes`, {method: 'PUT', body: encoder.encode('raw')});
	const fromRequest = await lanes.fetch(new Request(`${url}/request`, {method: 'PUT', body: 'from a request'}));
	const stream = new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(encoder.encode('streamed'));
			controller.close();
		},
	});
	const fromStream = await lanes.fetch(`${url}/stream`, {method: 'PUT', body: stream, duplex: 'half'} as RequestInit);

	for (const response of [stringBody, bytesBody, fromRequest, fromStream]) {
		expect(response.status).toBe(200);
	}

	expect(received.map(entry => `${entry.method} ${entry.url} ${entry.body}`)).toEqual([
		'PUT /string {"v":1}',
		'PUT /string {"v":1}',
		'PUT /bytes raw',
		'PUT /bytes raw',
		'PUT /request from a request',
		'PUT /request from a request',
		'PUT /stream streamed',
		'PUT /stream streamed',
	]);
	expect(received[1]!.headers['content-type']).toBe('application/json');
	expect(retries).toEqual([`${url}/string 503`, `${url}/bytes 503`, `${url}/request 503`, `${url}/stream 503`]);
	await lanes.close();
});

// The direct path copies `init.headers` for sending: a Map (or another realm's Headers) goes through
// `Headers`, as fetch takes it, so its entries are sent.
test('lanes.fetch - headers given as any iterable of pairs (a Map) are sent, as fetch sends them', async () => {
	const {url, received} = await echoServer();
	const lanes = createLanes({retry: false});
	const headers = new Map([['x-from-map', 'yes']]) as unknown as HeadersInit;
	// The platform's own fetch takes a Map as a sequence of pairs.
	await globalThis.fetch(`${url}/plain`, {method: 'PUT', headers, body: 'x'});
	expect((await lanes.keysOf(`${url}/lanes`, {method: 'PUT', headers, body: 'x'})).keys).toHaveLength(1);
	await lanes.fetch(`${url}/lanes`, {method: 'PUT', headers, body: 'x'});
	expect(received.map(entry => [entry.url, entry.headers['x-from-map']])).toEqual([
		['/plain', 'yes'],
		['/lanes', 'yes'],
	]);
	await lanes.close();
});
