import fc from 'fast-check';
import {expect, test} from 'vitest';
import {compileKeys, compilePatterns, type KeyPattern, type LaneRequest, normalizeUrl} from '../src/keys/index.js';

const request = (method: string, path: string): LaneRequest => ({
	method,
	url: normalizeUrl(`https://api.example.com${path}`),
	headers: new Headers(),
	body: undefined,
});

const resolver = (patterns: readonly KeyPattern[]) => {
	const {resolve} = compileKeys(patterns);
	return (method: string, path: string) => resolve(request(method, path));
};

test('patterns - `/objects/:id/**` keys the object and everything below it', () => {
	const resolve = resolver(['/objects/:id/**']);
	expect(resolve('PATCH', '/objects/9f2c')).toEqual({keys: ['objects/9f2c'], kind: 'write'});
	expect(resolve('PATCH', '/objects/9f2c/')).toEqual({keys: ['objects/9f2c'], kind: 'write'});
	expect(resolve('DELETE', '/objects/9f2c/blocks/7')).toEqual({keys: ['objects/9f2c'], kind: 'write'});
	expect(resolve('GET', '/objects/9f2c/a/b/c?x=1')).toEqual({keys: ['objects/9f2c'], kind: 'read'});
});

test('patterns - a path the list does not match falls back to the default rule', () => {
	const resolve = resolver(['/objects/:id/**']);
	expect(resolve('PATCH', '/objects')).toEqual({keys: ['api.example.com/objects'], kind: 'write'});
	expect(resolve('PATCH', '/users/1')).toEqual({keys: ['api.example.com/users/1'], kind: 'write'});
	expect(resolve('PATCH', '/')).toEqual({keys: ['api.example.com'], kind: 'write'});
	expect(resolver([])('POST', '/a')).toEqual({keys: ['api.example.com/a'], kind: 'write'});
});

test('patterns - `*` matches exactly one segment and ends the default key', () => {
	const resolve = resolver(['/spaces/:space/*/items']);
	expect(resolve('PUT', '/spaces/s1/lists/items')).toEqual({keys: ['spaces/s1'], kind: 'write'});
	expect(resolve('PUT', '/spaces/s1/items').keys).toEqual(['api.example.com/spaces/s1/items']);
	expect(resolve('PUT', '/spaces/s1/a/b/items').keys).toEqual(['api.example.com/spaces/s1/a/b/items']);
	expect(resolve('PUT', '/spaces/s1/lists/items/1').keys).toEqual(['api.example.com/spaces/s1/lists/items/1']);
});

test('patterns - without `**` the segment count must match exactly', () => {
	const resolve = resolver(['/objects/:id']);
	expect(resolve('PUT', '/objects/1').keys).toEqual(['objects/1']);
	expect(resolve('PUT', '/objects/1/blocks').keys).toEqual(['api.example.com/objects/1/blocks']);
});

test('patterns - a key template reorders and drops parameters', () => {
	const resolve = resolver([{pattern: '/spaces/:space/objects/:id/**', key: 'objects/:id/in/:space'}]);
	expect(resolve('PATCH', '/spaces/s1/objects/o1/blocks/b1')).toEqual({keys: ['objects/o1/in/s1'], kind: 'write'});
	const fixed = resolver([{pattern: '/settings/**', key: '//config/'}]);
	expect(fixed('PUT', '/settings/a/b').keys).toEqual(['config']);
});

test('patterns - methods restrict an entry, in any case', () => {
	const resolve = resolver([
		{pattern: '/objects/:id', methods: ['patch', 'Delete'], key: 'writes/:id'},
		{pattern: '/objects/:id', key: 'other/:id'},
	]);
	expect(resolve('PATCH', '/objects/1').keys).toEqual(['writes/1']);
	expect(resolve('DELETE', '/objects/1').keys).toEqual(['writes/1']);
	expect(resolve('GET', '/objects/1').keys).toEqual(['other/1']);
	expect(resolve('patch', '/objects/1').keys).toEqual(['writes/1']);
});

test('patterns - kind overrides the classification, key false takes no lane', () => {
	const resolve = resolver([
		{pattern: '/search', kind: 'read', key: false},
		{pattern: '/reports/:id', kind: 'write'},
		{pattern: '/health', key: false},
	]);
	expect(resolve('POST', '/search')).toEqual({keys: [], kind: 'read'});
	expect(resolve('GET', '/reports/7')).toEqual({keys: ['reports/7'], kind: 'write'});
	expect(resolve('POST', '/health')).toEqual({keys: [], kind: 'write'});
	expect(resolve('GET', '/health')).toEqual({keys: [], kind: 'read'});
});

test('patterns - the first matching entry wins', () => {
	const resolve = resolver(['/objects/special', '/objects/:id/**', {pattern: '/objects/:id', key: 'never/:id'}]);
	expect(resolve('PUT', '/objects/special').keys).toEqual(['objects/special']);
	expect(resolve('PUT', '/objects/other').keys).toEqual(['objects/other']);
});

test('patterns - literal segments match every spelling of the path', () => {
	const resolve = resolver(['/caf%c3%a9/:id', '/café2/:id', '/%7Euser/:id', 'no/leading/:slash']);
	expect(resolve('PUT', '/caf%C3%A9/1').keys).toEqual(['caf%C3%A9/1']);
	expect(resolve('PUT', '/café/1').keys).toEqual(['caf%C3%A9/1']);
	expect(resolve('PUT', '/caf%c3%a92/1').keys).toEqual(['caf%C3%A92/1']);
	expect(resolve('PUT', '/~user/1').keys).toEqual(['~user/1']);
	expect(resolve('PUT', '//no//leading/x/').keys).toEqual(['no/leading/x']);
});

test('patterns - parameter values keep the normalized spelling, an escaped slash stays in its segment', () => {
	const resolve = resolver(['/files/:name']);
	expect(resolve('PUT', '/files/a%2fb').keys).toEqual(['files/a%2Fb']);
	expect(resolve('PUT', '/files/%41b%7e').keys).toEqual(['files/Ab~']);
	expect(resolve('PUT', '/files/a%2fb').keys).not.toEqual(resolve('PUT', '/files/a/b').keys);
});

test('patterns - every spelling of a captured segment gives one key', () => {
	const resolve = resolver(['/objects/:id/**']);
	const segment = fc.stringMatching(/^[A-Za-z0-9_~-]{1,12}$/);
	fc.assert(
		fc.property(segment, fc.array(segment, {maxLength: 3}), fc.boolean(), (id, rest, encode) => {
			const spelled = encode ? [...id].map(char => `%${char.charCodeAt(0).toString(16)}`).join('') : id;
			const path = `/objects//${spelled}/${rest.join('/')}/`;
			expect(resolve('PATCH', path).keys).toEqual([`objects/${id}`]);
		}),
	);
});

test('compilePatterns() - returns undefined when nothing matches', () => {
	const match = compilePatterns(['/a/:x']);
	expect(match(request('GET', '/a/1'))).toEqual({keys: ['a/1'], kind: 'read'});
	expect(match(request('GET', '/b/1'))).toBeUndefined();
});

test('compilePatterns() - the option name prefixes error messages', () => {
	expect(() => compilePatterns([5 as never], 'rules')).toThrow('Expected `rules[0]` to be');
});

const invalidCases: Array<[unknown, string]> = [
	[42, 'Expected `keys[0]` to be a path pattern string or an object `{pattern, key?, methods?, kind?}`, got `42` (number)'],
	[null, 'Expected `keys[0]` to be a path pattern string or an object `{pattern, key?, methods?, kind?}`, got `null` (null)'],
	[['/a'], 'Expected `keys[0]` to be a path pattern string or an object `{pattern, key?, methods?, kind?}`, got `[array of 1]` (array)'],
	['/a/**/b', 'Expected `keys[0]` to be a path pattern with `**` only as its last segment, got `"/a/**/b"` (string)'],
	['/a/:', 'Expected `keys[0]` to be a path pattern whose parameters are named like `:id`, got `"/a/:"` (string)'],
	['/a/:1x', 'Expected `keys[0]` to be a path pattern whose parameters are named like `:id`, got `"/a/:1x"` (string)'],
	['/a/:id/b/:id', 'Expected `keys[0]` to be a path pattern that names each parameter once (`:id` repeats), got `"/a/:id/b/:id"` (string)'],
	['/a*', 'Expected `keys[0]` to be a path pattern whose wildcards are whole segments (`*`, `**`), got `"/a*"` (string)'],
	['/a/***', 'Expected `keys[0]` to be a path pattern whose wildcards are whole segments (`*`, `**`), got `"/a/***"` (string)'],
	['/a?x=1', 'Expected `keys[0]` to be a path pattern without a query or fragment (patterns match the path), got `"/a?x=1"` (string)'],
	['/a#x', 'Expected `keys[0]` to be a path pattern without a query or fragment (patterns match the path), got `"/a#x"` (string)'],
	['/a/../b', 'Expected `keys[0]` to be a path pattern without `.` or `..` segments, got `"/a/../b"` (string)'],
	['/a/%2e', 'Expected `keys[0]` to be a path pattern without `.` or `..` segments, got `"/a/%2e"` (string)'],
	['/a\\b', 'Expected `keys[0]` to be a path pattern without backslashes, got `"/a\\\\b"` (string)'],
	[
		'/**',
		'Expected `keys[0]` to be a path pattern with a segment before any wildcard (it gives the key), or an object with a `key`, got `"/**"` (string)',
	],
	[
		'/*/a',
		'Expected `keys[0]` to be a path pattern with a segment before any wildcard (it gives the key), or an object with a `key`, got `"/*/a"` (string)',
	],
	[
		'/',
		'Expected `keys[0]` to be a path pattern with a segment before any wildcard (it gives the key), or an object with a `key`, got `"/"` (string)',
	],
	[{}, 'Expected `keys[0].pattern` to be a path pattern string, got `undefined` (undefined)'],
	[{pattern: 5}, 'Expected `keys[0].pattern` to be a path pattern string, got `5` (number)'],
	[{pattern: '/a/**/b'}, 'Expected `keys[0].pattern` to be a path pattern with `**` only as its last segment, got `"/a/**/b"` (string)'],
	[{pattern: '/a', key: 5}, 'Expected `keys[0].key` to be a key template string or false, got `5` (number)'],
	[{pattern: '/a', key: true}, 'Expected `keys[0].key` to be a key template string or false, got `true` (boolean)'],
	[
		{pattern: '/a/:id', key: 'objects/:oid'},
		'Expected `keys[0].key` to be a key template whose parameters all appear in the pattern (`:oid` does not), got `"objects/:oid"` (string)',
	],
	[{pattern: '/a/:id', key: 'objects/:'}, 'Expected `keys[0].key` to be a key template whose parameters are named like `:id`, got `"objects/:"` (string)'],
	[{pattern: '/a', key: '//'}, 'Expected `keys[0].key` to be a key template with at least one segment, got `"//"` (string)'],
	[{pattern: '/a/*', key: 'a/*'}, 'Expected `keys[0].key` to be a key template without wildcards, got `"a/*"` (string)'],
	[
		{pattern: '/*/x'},
		'Expected `keys[0].key` to be a key template or false, as the pattern has no segment before its first wildcard, got `undefined` (undefined)',
	],
	[{pattern: '/a', methods: 'GET'}, 'Expected `keys[0].methods` to be a non-empty array of method names, got `"GET"` (string)'],
	[{pattern: '/a', methods: []}, 'Expected `keys[0].methods` to be a non-empty array of method names, got `[array of 0]` (array)'],
	[{pattern: '/a', methods: ['GET', 7]}, 'Expected `keys[0].methods[1]` to be a method name, got `7` (number)'],
	[{pattern: '/a', methods: ['GET', 'NO SPACE']}, 'Expected `keys[0].methods[1]` to be a method name, got `"NO SPACE"` (string)'],
	[{pattern: '/a', kind: 'reed'}, 'Expected `keys[0].kind` to be \'read\' or \'write\', got `"reed"` (string)'],
	[
		{pattern: '/a', keys: 'x'},
		'Expected `keys[0].keys` to be absent (an entry has only `pattern`, `key`, `methods` and `kind`), got `"x"` (string)',
	],
];

test('patterns - every invalid entry throws a TypeError naming it', () => {
	for (const [entry, message] of invalidCases) {
		expect(() => compileKeys([entry as KeyPattern]), message).toThrow(new TypeError(message));
	}
});

test('patterns - errors name the entry by its index', () => {
	expect(() => compileKeys(['/a', '/b', {pattern: '/c'}, {pattern: '/d/**/e'}])).toThrow(
		new TypeError('Expected `keys[3].pattern` to be a path pattern with `**` only as its last segment, got `"/d/**/e"` (string)'),
	);
});
