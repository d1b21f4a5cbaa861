import fc from 'fast-check';
import {expect, test} from 'vitest';
import {HookError} from '../src/errors/index.js';
import {createLanes} from '../src/index.js';
import {
	classify,
	compileKeys,
	defaultKey,
	defaultRule,
	isJsonContentType,
	type KeyRule,
	type LaneRequest,
	normalizeUrl,
	type Preset,
	toLaneRequest,
} from '../src/keys/index.js';
import {startServer} from './http-helpers.js';

const laneRequest = (method: string, url: string, body?: unknown): LaneRequest => ({
	method,
	url: normalizeUrl(url),
	headers: new Headers(),
	body,
});

const keyOf = (url: string) => defaultKey(normalizeUrl(url));

// --- normalizeUrl() ---------------------------------------------------------------------------

test('normalizeUrl() - scheme and host are lower-cased', () => {
	expect(normalizeUrl('HTTPS://API.Example.COM/Objects').href).toBe('https://api.example.com/Objects');
});

test('normalizeUrl() - default ports are dropped, others kept', () => {
	expect(normalizeUrl('https://a.example:443/x').href).toBe('https://a.example/x');
	expect(normalizeUrl('http://a.example:80/x').href).toBe('http://a.example/x');
	expect(normalizeUrl('https://a.example:8443/x').href).toBe('https://a.example:8443/x');
	expect(normalizeUrl('http://a.example:443/x').href).toBe('http://a.example:443/x');
});

test('normalizeUrl() - dot segments are resolved, `%2e` spellings included', () => {
	expect(normalizeUrl('https://a.example/a/./b/../c').pathname).toBe('/a/c');
	expect(normalizeUrl('https://a.example/a/%2e/b/%2E%2e/c').pathname).toBe('/a/c');
	expect(normalizeUrl('https://a.example/../../a').pathname).toBe('/a');
});

test('normalizeUrl() - escapes of unreserved characters are decoded, others upper-cased', () => {
	expect(normalizeUrl('https://a.example/%41%62c%2D%2e%5F%7e').pathname).toBe('/Abc-._~');
	expect(normalizeUrl('https://a.example/a%3ab%2fc%c3%a9').pathname).toBe('/a%3Ab%2Fc%C3%A9');
	expect(normalizeUrl('https://a.example/café').pathname).toBe('/caf%C3%A9');
});

test('normalizeUrl() - characters a URI may not contain are escaped, a lone % too', () => {
	expect(normalizeUrl('https://a.example/a[1]^|b').pathname).toBe('/a%5B1%5D%5E%7Cb');
	expect(normalizeUrl('https://a.example/100%/x%zz/%4').pathname).toBe('/100%25/x%25zz/%254');
});

test('normalizeUrl() - repeated and trailing slashes are removed, the root stays', () => {
	expect(normalizeUrl('https://a.example//objects///9f2c/').pathname).toBe('/objects/9f2c');
	expect(normalizeUrl('https://a.example/').pathname).toBe('/');
	expect(normalizeUrl('https://a.example').pathname).toBe('/');
	expect(normalizeUrl('https://a.example//').pathname).toBe('/');
});

test('normalizeUrl() - fragment and user info are dropped, the query is kept as is', () => {
	const url = normalizeUrl('https://user:secret@a.example/x/?b=2&a=%7e1#part');
	expect(url.href).toBe('https://a.example/x?b=2&a=%7e1');
	expect(url.username).toBe('');
	expect(url.password).toBe('');
});

test('normalizeUrl() - resolves against a base and returns a new URL', () => {
	const input = new URL('https://a.example/x//y/');
	const url = normalizeUrl(input);
	expect(url).not.toBe(input);
	expect(input.pathname).toBe('/x//y/');
	expect(url.pathname).toBe('/x/y');
	expect(normalizeUrl('../b/', 'https://a.example/a/c/').href).toBe('https://a.example/a/b');
});

test('normalizeUrl() - invalid input throws a TypeError naming `url`', () => {
	expect(() => normalizeUrl('not a url')).toThrow(new TypeError('Expected `url` to be an absolute http(s) URL, got `"not a url"` (string)'));
	expect(() => normalizeUrl('/objects')).toThrow(new TypeError('Expected `url` to be an absolute http(s) URL, got `"/objects"` (string)'));
	expect(() => normalizeUrl('ftp://files.example/x?y=1')).toThrow(
		new TypeError('Expected `url` to be an absolute http(s) URL, got `"ftp://files.example/x"` (string)'),
	);
	expect(() => normalizeUrl(42 as never)).toThrow(
		new TypeError('Expected `url` to be an absolute http(s) URL (string or URL), got `42` (number)'),
	);
	expect(() => normalizeUrl('/x', 'nope')).toThrow(new TypeError('Expected `base` to be an absolute http(s) URL, got `"nope"` (string)'));
});

test('normalizeUrl() - errors never show user info or the query', () => {
	const cases: Array<[string | URL, string]> = [
		['http://user:secret@[bad/path?token=abc', 'http://[bad/path'],
		['http://user:pa/ss@[bad?token=abc#frag', 'http://[bad'],
		['http:user:secret@[bad', '[bad'],
		['user:secret@[bad?x', '[bad'],
		[new URL('ftp://user:secret@files.example/x?token=abc'), 'ftp://files.example/x'],
	];
	for (const [input, shown] of cases) {
		let message = '';
		try {
			normalizeUrl(input);
		} catch (error) {
			message = (error as Error).message;
		}

		expect(message).toContain(JSON.stringify(shown));
		expect(message).not.toMatch(/secret|token|abc|frag/);
	}
});

// --- defaultKey() -----------------------------------------------------------------------------

test('defaultKey() - host and path segments, without scheme, query or fragment', () => {
	expect(defaultKey(new URL('https://API.example.com:443/objects//9f2c/'))).toBe('api.example.com/objects/9f2c');
	expect(keyOf('https://api.example.com/objects/9f2c?expand=1#x')).toBe('api.example.com/objects/9f2c');
	expect(keyOf('http://127.0.0.1:8080/a')).toBe('127.0.0.1:8080/a');
	expect(keyOf('https://api.example.com/')).toBe('api.example.com');
});

test('defaultKey() - spellings of one resource share one key', () => {
	const key = 'api.example.com/objects/Abc';
	for (const spelling of [
		'https://api.example.com/objects/Abc',
		'HTTPS://API.EXAMPLE.COM/objects/Abc',
		'https://api.example.com:443/objects/Abc',
		'https://api.example.com/x/../objects/./Abc',
		'https://api.example.com/x/%2E%2e/objects/%2e/Abc',
		'https://api.example.com/objects/%41bc',
		'https://api.example.com/%6fbjects/A%62%63',
		'https://api.example.com//objects//Abc//',
		'https://api.example.com/objects/Abc?z=1',
		'https://api.example.com/objects/Abc#top',
	]) {
		expect(keyOf(spelling)).toBe(key);
	}
});

test('defaultKey() - an escaped slash is not a slash, and case in the path matters', () => {
	expect(keyOf('https://a.example/a%2fb')).toBe('a.example/a%2Fb');
	expect(keyOf('https://a.example/a%2Fb')).not.toBe(keyOf('https://a.example/a/b'));
	expect(keyOf('https://a.example/A')).not.toBe(keyOf('https://a.example/a'));
	expect(keyOf('https://a.example/a%3Ab')).not.toBe(keyOf('https://a.example/a:b'));
});

test('defaultKey() - rejects what is not a URL', () => {
	expect(() => defaultKey('https://a.example/x' as never)).toThrow(
		new TypeError('Expected `url` to be a URL, got `"https://a.example/x"` (string)'),
	);
});

type Atom = {readonly raw: string; readonly canonical: string; readonly unreserved: boolean};

const unreservedChars = 'ABCXYZabcxyz0189-._~';
const hexOf = (code: number) => code.toString(16).toUpperCase().padStart(2, '0');

const atom: fc.Arbitrary<Atom> = fc.oneof(
	fc.constantFrom(...unreservedChars).map(char => ({raw: char, canonical: char, unreserved: true})),
	fc.constantFrom(...'!$&\'()*+,;=:@').map(char => ({raw: char, canonical: char, unreserved: false})),
	fc.constantFrom('é', '日', 'ß').map(char => ({raw: char, canonical: encodeURIComponent(char), unreserved: false})),
	fc.constantFrom('/', '?', '#', '%', ' ', '"').map(char => {
		const escaped = `%${hexOf(char.charCodeAt(0))}`;
		return {raw: escaped, canonical: escaped, unreserved: false};
	}),
);

const segment = fc.array(atom, {minLength: 1, maxLength: 6}).filter(atoms => {
	const text = atoms.map(a => a.canonical).join('');
	return text !== '.' && text !== '..';
});

const randomCase = (text: string, flips: readonly boolean[]) =>
	[...text].map((char, index) => (flips[index % Math.max(flips.length, 1)] ? char.toUpperCase() : char.toLowerCase())).join('');

/** One random spelling of an atom: unreserved characters raw or escaped, escapes in any hex case. */
const spellAtom = (a: Atom, encode: boolean, upper: boolean): string => {
	let text = a.raw;
	if (a.unreserved && encode) {
		text = `%${hexOf(a.raw.charCodeAt(0))}`;
	} else if (!a.unreserved && a.raw !== a.canonical && encode) {
		text = a.canonical;
	}

	return upper ? text : text.replace(/%[0-9A-F]{2}/g, hex => hex.toLowerCase());
};

const noise = fc.constantFrom('', '', '/', './', '%2e/', '%2E/', 'junk/../', 'junk/%2e%2E/', '//');

const spelledPath = fc.array(segment, {maxLength: 5}).chain(segments =>
	fc.record({
		segments: fc.constant(segments),
		spelling: fc.tuple(
			...segments.map(atoms =>
				fc.tuple(
					noise,
					fc.tuple(...atoms.map(a => fc.tuple(fc.boolean(), fc.boolean()).map(([encode, upper]) => spellAtom(a, encode, upper)))),
				),
			),
		),
		scheme: fc.array(fc.boolean(), {minLength: 1, maxLength: 5}),
		host: fc.array(fc.boolean(), {minLength: 1, maxLength: 15}),
		port: fc.boolean(),
		trailing: noise,
		query: fc.constantFrom('', '?a=1', '?id=%41', '?'),
		fragment: fc.constantFrom('', '#x', '#'),
	}),
);

test('defaultKey() - random equivalent spellings of random paths give one key', () => {
	fc.assert(
		fc.property(spelledPath, ({segments, spelling, scheme, host, port, trailing, query, fragment}) => {
			const canonical = segments.map(atoms => atoms.map(a => a.canonical).join(''));
			const path = spelling.map(([before, atoms]) => `${before}${atoms.join('')}`).join('/');
			const url = `${randomCase('https', scheme)}://${randomCase('api.example.com', host)}${port ? ':443' : ''}/${path}/${trailing}${query}${fragment}`;
			const expected = ['api.example.com', ...canonical].join('/');
			expect(keyOf(url)).toBe(expected);
			expect(keyOf(`https://api.example.com/${canonical.join('/')}`)).toBe(expected);
		}),
		{numRuns: 500},
	);
});

test('defaultKey() - different paths give different keys', () => {
	const path = fc.array(segment, {maxLength: 4}).map(segments => segments.map(atoms => atoms.map(a => a.canonical).join('')).join('/'));
	fc.assert(
		fc.property(path, path, (a, b) => {
			fc.pre(a !== b);
			expect(keyOf(`https://h.example/${a}`)).not.toBe(keyOf(`https://h.example/${b}`));
		}),
	);
});

test('normalizeUrl() - is idempotent', () => {
	fc.assert(
		fc.property(fc.webUrl({withQueryParameters: true, withFragments: true}), url => {
			const once = normalizeUrl(url);
			expect(normalizeUrl(once).href).toBe(once.href);
			expect(normalizeUrl(once.href).href).toBe(once.href);
		}),
		{numRuns: 300},
	);
	// Generating web URLs is the slow part (seconds on a busy machine), not normalizing them.
}, 30_000);

// --- classify() -------------------------------------------------------------------------------

test('classify() - safe methods are reads in any case, everything else writes', () => {
	for (const method of ['GET', 'get', 'Head', 'OPTIONS', 'options', 'TRACE', 'trace']) {
		expect(classify(method)).toBe('read');
	}

	for (const method of ['POST', 'put', 'PATCH', 'delete', 'PURGE', 'PROPFIND', 'CONNECT', '']) {
		expect(classify(method)).toBe('write');
	}

	expect(() => classify(undefined as never)).toThrow(new TypeError('Expected `method` to be a string, got `undefined` (undefined)'));
});

// --- compileKeys() ----------------------------------------------------------------------------

test('compileKeys() - without an option, the default rule keys by host and path', () => {
	const keys = compileKeys(undefined);
	expect(keys.readsBody).toBe(false);
	expect(keys.observe).toBeUndefined();
	expect(keys.resolve(laneRequest('PATCH', 'https://A.example:443//objects/9f2c/'))).toEqual({keys: ['a.example/objects/9f2c'], kind: 'write'});
	expect(keys.resolve(laneRequest('GET', 'https://a.example/objects/9f2c?x=1'))).toEqual({keys: ['a.example/objects/9f2c'], kind: 'read'});
	expect(defaultRule(laneRequest('GET', 'https://a.example/x/'))).toBe('a.example/x');
});

test('compileKeys() - a rule function: keys made canonical, sorted and unique, kind from the method', () => {
	const keys = compileKeys(() => ['/b//x/', 'a', 'b/x', 'a/']);
	expect(keys.readsBody).toBe(true);
	expect(keys.observe).toBeUndefined();
	expect(keys.resolve(laneRequest('DELETE', 'https://a.example/'))).toEqual({keys: ['a', 'b/x'], kind: 'write'});
	expect(compileKeys(() => '/objects/1/').resolve(laneRequest('GET', 'https://a.example/'))).toEqual({keys: ['objects/1'], kind: 'read'});
});

test('compileKeys() - a rule function: undefined and empty arrays mean no lane', () => {
	expect(compileKeys(() => undefined).resolve(laneRequest('POST', 'https://a.example/'))).toEqual({keys: [], kind: 'write'});
	expect(compileKeys(() => []).resolve(laneRequest('GET', 'https://a.example/'))).toEqual({keys: [], kind: 'read'});
});

test('compileKeys() - a rule function: {keys, kind} overrides the classification', () => {
	const rule: KeyRule = request => (request.url.pathname === '/search' ? {kind: 'read'} : {keys: ['x', 'x'], kind: 'write'});
	const keys = compileKeys(rule);
	expect(keys.resolve(laneRequest('POST', 'https://a.example/search'))).toEqual({keys: [], kind: 'read'});
	expect(keys.resolve(laneRequest('GET', 'https://a.example/other'))).toEqual({keys: ['x'], kind: 'write'});
	expect(compileKeys(() => ({keys: 'a/b'})).resolve(laneRequest('PUT', 'https://a.example/'))).toEqual({keys: ['a/b'], kind: 'write'});
});

test('compileKeys() - a rule sees the request it is given', () => {
	const seen: LaneRequest[] = [];
	const request = laneRequest('PATCH', 'https://a.example/x', {id: 1});
	compileKeys(r => {
		seen.push(r);
		return 'k';
	}).resolve(request);
	expect(seen).toEqual([request]);
});

test('compileKeys() - a bad result from a rule throws a TypeError naming the result', () => {
	const resolve = (result: unknown) => () => compileKeys(() => result as never).resolve(laneRequest('GET', 'https://a.example/'));
	expect(resolve(42)).toThrow(
		new TypeError("Expected the key rule's result to be a key, an array of keys, `{keys, kind}` or undefined, got `42` (number)"),
	);
	expect(resolve(null)).toThrow(
		new TypeError("Expected the key rule's result to be a key, an array of keys, `{keys, kind}` or undefined, got `null` (null)"),
	);
	expect(resolve('')).toThrow(new TypeError('Expected the key rule\'s result to be a key with at least one segment, got `""` (string)'));
	expect(resolve('///')).toThrow(new TypeError('Expected the key rule\'s result to be a key with at least one segment, got `"///"` (string)'));
	expect(resolve(['a', 7])).toThrow(new TypeError("Expected the key rule's result[1] to be a key (a non-empty string), got `7` (number)"));
	expect(resolve({keys: 5})).toThrow(
		new TypeError("Expected the key rule's result.keys to be a key, an array of keys or undefined, got `5` (number)"),
	);
	expect(resolve({keys: ['ok', '/']})).toThrow(
		new TypeError('Expected the key rule\'s result.keys[1] to be a key with at least one segment, got `"/"` (string)'),
	);
	expect(resolve({kind: 'reed'})).toThrow(
		new TypeError('Expected the key rule\'s result.kind to be \'read\', \'write\' or undefined, got `"reed"` (string)'),
	);
	expect(resolve(Promise.resolve('a'))).toThrow(
		new TypeError(
			"Expected the key rule's result to be a key, an array of keys, `{keys, kind}` or undefined (rules are synchronous), got `[Promise]` (object)",
		),
	);
});

test('compileKeys() - an error thrown by a rule becomes a HookError naming the rule, with the error as cause', () => {
	const failure = new Error('rule failed');
	const keys = compileKeys(() => {
		throw failure;
	});
	const error = (() => {
		try {
			keys.resolve(laneRequest('GET', 'https://a.example/x?token=secret'));
		} catch (error_) {
			return error_ as HookError;
		}

		return undefined;
	})();
	expect(error).toBeInstanceOf(HookError);
	expect(error?.message).toBe('The key rule threw on GET https://a.example/x; the request was not sent (the thrown value is the `cause`)');
	expect(error?.hook).toBe('rule');
	expect(error?.cause).toBe(failure);
});

test('compileKeys() - a preset brings its rule, readsBody and observe', () => {
	const observe = () => undefined;
	const preset: Preset = {name: 'test', rule: () => ({keys: 'p', kind: 'read'}), readsBody: true, observe};
	const keys = compileKeys(preset);
	expect(keys.readsBody).toBe(true);
	expect(keys.observe).toBe(observe);
	expect(keys.resolve(laneRequest('POST', 'https://a.example/'))).toEqual({keys: ['p'], kind: 'read'});

	const plain = compileKeys({name: 'plain', rule: () => 'q'});
	expect(plain.readsBody).toBe(false);
	expect(plain.observe).toBeUndefined();
	expect(() => compileKeys({name: 'bad', rule: () => 5 as never}).resolve(laneRequest('GET', 'https://a.example/'))).toThrow(
		"Expected the key rule's result to be",
	);
});

test('compileKeys() - a pattern list keys matching paths and falls back to the default rule', () => {
	const keys = compileKeys(['/objects/:id/**']);
	expect(keys.readsBody).toBe(false);
	expect(keys.resolve(laneRequest('PUT', 'https://a.example/objects/9/blocks/1'))).toEqual({keys: ['objects/9'], kind: 'write'});
	expect(keys.resolve(laneRequest('PUT', 'https://a.example/users/1'))).toEqual({keys: ['a.example/users/1'], kind: 'write'});
});

test('compileKeys() - anything else throws a TypeError naming `keys`', () => {
	const message = (value: string) => new TypeError(`Expected \`keys\` to be a key rule function, an array of patterns or a preset, got ${value}`);
	expect(() => compileKeys(42 as never)).toThrow(message('`42` (number)'));
	expect(() => compileKeys('objects' as never)).toThrow(message('`"objects"` (string)'));
	expect(() => compileKeys(null as never)).toThrow(message('`null` (null)'));
	expect(() => compileKeys({name: 'x'} as never)).toThrow(message('`[Object]` (object)'));
	expect(() => compileKeys({name: 'x', rule: 'nope'} as never)).toThrow(
		new TypeError('Expected `keys.rule` to be a function, got `"nope"` (string)'),
	);
	expect(() => compileKeys({rule: () => 'k'} as never)).toThrow(new TypeError('Expected `keys.name` to be a string, got `undefined` (undefined)'));
	expect(() => compileKeys({name: 'x', rule: () => 'k', readsBody: 'yes'} as never)).toThrow(
		new TypeError('Expected `keys.readsBody` to be a boolean, got `"yes"` (string)'),
	);
	expect(() => compileKeys({name: 'x', rule: () => 'k', observe: 1} as never)).toThrow(
		new TypeError('Expected `keys.observe` to be a function, got `1` (number)'),
	);
});

// --- toLaneRequest() --------------------------------------------------------------------------

const jsonRequest = (body: string, contentType = 'application/json', method = 'PATCH') =>
	new Request('https://API.example.com:443/objects//1/?a=1', {method, headers: {'content-type': contentType, authorization: 'Bearer t'}, body});

test('toLaneRequest() - method upper-cased, URL normalized, headers copied', async () => {
	const request = new Request('https://API.example.com:443/objects//1/?a=1', {method: 'purge', headers: {'x-a': '1'}});
	const lane = await toLaneRequest(request, false);
	expect(lane.method).toBe('PURGE');
	expect(lane.url.href).toBe('https://api.example.com/objects/1?a=1');
	expect(lane.headers.get('x-a')).toBe('1');
	lane.headers.set('x-a', '2');
	expect(request.headers.get('x-a')).toBe('1');
	expect(lane.body).toBeUndefined();
});

test('toLaneRequest() - parses a JSON body from a clone and leaves the original unread', async () => {
	const request = jsonRequest('{"id":"9f2c","n":[1,2]}');
	const lane = await toLaneRequest(request, true);
	expect(lane.body).toEqual({id: '9f2c', n: [1, 2]});
	expect(request.bodyUsed).toBe(false);
	expect(await request.text()).toBe('{"id":"9f2c","n":[1,2]}');
});

test('toLaneRequest() - reads +json media types with parameters', async () => {
	const lane = await toLaneRequest(jsonRequest('{"a":1}', 'application/merge-patch+json; charset=utf-8'), true);
	expect(lane.body).toEqual({a: 1});
	const upper = await toLaneRequest(jsonRequest('[1]', 'Application/JSON'), true);
	expect(upper.body).toEqual([1]);
});

test('toLaneRequest() - no body unless asked for, JSON and present', async () => {
	expect((await toLaneRequest(jsonRequest('{"a":1}'), false)).body).toBeUndefined();
	expect((await toLaneRequest(jsonRequest('{"a":1}', 'text/plain'), true)).body).toBeUndefined();
	expect((await toLaneRequest(new Request('https://a.example/', {method: 'POST'}), true)).body).toBeUndefined();
	expect((await toLaneRequest(new Request('https://a.example/', {headers: {'content-type': 'application/json'}}), true)).body).toBeUndefined();
});

test('toLaneRequest() - invalid JSON gives no body and does not throw', async () => {
	const request = jsonRequest('{"id": ');
	const lane = await toLaneRequest(request, true);
	expect(lane.body).toBeUndefined();
	expect(await request.text()).toBe('{"id": ');
});

test('toLaneRequest() - a body already used gives no body and does not throw', async () => {
	const request = jsonRequest('{"id":1}');
	await request.text();
	expect((await toLaneRequest(request, true)).body).toBeUndefined();
});

test('toLaneRequest() - rejects what is not a Request', async () => {
	await expect(toLaneRequest('https://a.example/' as never, false)).rejects.toThrow(
		new TypeError('Expected `request` to be a Request, got `"https://a.example/"` (string)'),
	);
});

test('isJsonContentType() - application/json and +json types only', () => {
	expect(isJsonContentType('application/json')).toBe(true);
	expect(isJsonContentType(' application/json ; charset=utf-8')).toBe(true);
	expect(isJsonContentType('application/vnd.api+json')).toBe(true);
	expect(isJsonContentType('text/json')).toBe(false);
	expect(isJsonContentType('application/jsonp')).toBe(false);
	expect(isJsonContentType('+json')).toBe(false);
	expect(isJsonContentType('text/plain')).toBe(false);
	expect(isJsonContentType(null)).toBe(false);
});

// --- Preset.learn -------------------------------------------------------------------------------

test('Preset.learn - anything but `{when, body}` (two functions) is refused, naming `keys.learn`', () => {
	const rule = () => undefined;
	const when = () => true;
	const refused: unknown[] = [5, null, 'when', when, {}, {when}, {body() {}}, {when: true, body() {}}, {when, body: 'x'}];
	for (const learn of refused) {
		expect(() => createLanes({keys: {name: 'p', rule, learn} as unknown as Preset}), String(learn)).toThrow(TypeError);
		expect(() => createLanes({keys: {name: 'p', rule, learn} as unknown as Preset}), String(learn)).toThrow(/`keys\.learn`/);
	}

	expect(() => createLanes({keys: {name: 'p', rule, learn: 5} as unknown as Preset})).toThrow('Expected `keys.learn` to be `{when, body}` (two functions), got `5` (number)');
	expect(() =>
		createLanes({
			keys: {
				name: 'p',
				rule,
				learn: {
					when: () => true,
					body() {},
				},
			},
		}),
	).not.toThrow();
});

test('Preset.learn - a `when` or `body` that throws never fails the call: the body still reads', async () => {
	const payload = {id: '9f2c', blocks: ['b1', 'b2']};
	const server = await startServer((_request, _body, response) => {
		response.setHeader('content-type', 'application/json');
		response.end(JSON.stringify(payload));
	});
	try {
		const calls: string[] = [];
		const preset = (learn: NonNullable<Preset['learn']>): Preset => ({name: 'learning', rule: () => undefined, learn});
		const whenThrows = createLanes({
			keys: preset({
				when() {
					calls.push('when throws');
					throw new Error('when failed');
				},
				body() {
					calls.push('body after a throwing when');
				},
			}),
		});
		const bodyThrows = createLanes({
			keys: preset({
				when() {
					calls.push('when');
					return true;
				},
				body(request, body) {
					calls.push(`body ${request.method} ${request.url.pathname} ${JSON.stringify(body)}`);
					throw new Error('body failed');
				},
			}),
		});

		const first = await whenThrows.fetch(`${server.url}/objects`);
		expect(first.status).toBe(200);
		expect(await first.json()).toEqual(payload);
		expect(calls).toEqual(['when throws']);

		calls.length = 0;
		const second = await bodyThrows.fetch(`${server.url}/objects`);
		expect(second.status).toBe(200);
		expect(await second.json()).toEqual(payload);
		expect(calls).toEqual(['when', `body GET /objects ${JSON.stringify(payload)}`]);

		// text() passes on what it parsed too, and hands back the text.
		calls.length = 0;
		const third = await bodyThrows.fetch(`${server.url}/objects`, {method: 'POST', body: '{}'});
		expect(await third.text()).toBe(JSON.stringify(payload));
		expect(calls).toEqual(['when', `body POST /objects ${JSON.stringify(payload)}`]);
		await Promise.all([whenThrows.close(), bodyThrows.close()]);
	} finally {
		await server.close();
	}
});
