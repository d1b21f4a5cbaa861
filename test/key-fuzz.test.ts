import fc from 'fast-check';
import {expect, test} from 'vitest';
import {capacities, createLanes} from '../src/index.js';
import {compileKeys, defaultKey, normalizeUrl, toLaneRequest} from '../src/keys/index.js';
import {canonicalPathStart, pathStart} from '../src/keys/normalize.js';

/*
Key-path fuzz: random spellings of one resource always take one lane, through the default rule and
the `capacities()` preset; different resources never share one; a malformed URL gets a precise error
that shows none of its credentials. `WRITELANE_FUZZ_RUNS` sets the runs per property (the suite's
default is short; `npm run fuzz:keys` runs the full size).
*/

const runs = Number(process.env.WRITELANE_FUZZ_RUNS ?? 200);
const options = {numRuns: runs};
/** Per test: generous for the full-size run, the default for the suite's. */
const timeout = Math.max(10_000, runs * 5);

// --- spelling one resource ----------------------------------------------------------------------

const hex = '0123456789ABCDEF';

/** `%XX` for each UTF-8 byte of `char`, each hex digit in a random case. */
function percentEscape(char: string, cases: readonly boolean[]): string {
	let out = '';
	let index = 0;
	for (const byte of new TextEncoder().encode(char)) {
		const digits = hex[byte >> 4]! + hex[byte & 15]!;
		out += `%${[...digits].map(digit => (cases[index++ % cases.length] ? digit.toLowerCase() : digit)).join('')}`;
	}

	return out;
}

const unreserved = 'ABCXYZabcxyz0189-._~';
/** Left raw by the URL parser though a URI may not hold them; their escapes mean the same. */
const bracketish = '[]^|';
/** Escaped by the URL parser when raw. */
const parserEscapes = ' "<>`{}';
/** Only ever escaped: raw they would end or split the path. */
const mustStayEscaped = '/?#%\\';
/** Reserved: raw and escaped are different resources (RFC 3986 §6.2.2.2), so they are spelled raw only. */
const subDelims = "!$&'()*+,;=:@";
const nonAscii = ['é', 'ü', 'ß', '例', '😀'];

const segmentChar = fc.oneof(
	{weight: 6, arbitrary: fc.constantFrom(...unreserved)},
	fc.constantFrom(...bracketish),
	fc.constantFrom(...parserEscapes),
	fc.constantFrom(...mustStayEscaped),
	fc.constantFrom(...subDelims),
	fc.constantFrom(...nonAscii),
);

/** A path segment's value: what the server sees after decoding. Never empty, `.` or `..`. */
const segmentValue = fc
	.array(segmentChar, {minLength: 1, maxLength: 6})
	.map(chars => chars.join(''))
	.filter(value => value !== '.' && value !== '..');

/** One spelling of a segment value: each character raw or escaped where both mean the same. */
function spellSegment(value: string, choices: readonly boolean[]): string {
	let out = '';
	let index = 0;
	for (const char of value) {
		const choice = choices[index++ % choices.length]!;
		const cases = [choices[(index * 7) % choices.length]!, choices[(index * 13) % choices.length]!];
		if (mustStayEscaped.includes(char)) {
			out += percentEscape(char, cases);
		} else if (subDelims.includes(char)) {
			out += char;
		} else {
			out += choice ? percentEscape(char, cases) : char;
		}
	}

	return out;
}

type Host = {readonly name: string; readonly spellings: readonly string[]};

const hosts: readonly Host[] = [
	{
		name: 'api.example.com',
		spellings: ['api.example.com', 'API.Example.COM', '%61pi.example.com', 'api%2Eexample%2ecom', 'ａｐｉ.example.com', 'api。example．com', 'api.example.com.'],
	},
	{name: 'bücher.example', spellings: ['bücher.example', 'BÜCHER.example', 'xn--bcher-kva.example', 'XN--BCHER-KVA.EXAMPLE', 'b%C3%BCcher.example', 'bücher｡example']},
	{name: 'münchen.de', spellings: ['münchen.de', 'MÜNCHEN.DE', 'xn--mnchen-3ya.de', 'm%c3%bcnchen.de']},
	{name: '例え.テスト', spellings: ['例え.テスト', 'xn--r8jz45g.xn--zckzah', 'XN--R8JZ45G.xn--ZCKZAH', '例え。テスト']},
	{name: '127.0.0.1', spellings: ['127.0.0.1', '2130706433', '0x7f.0.0.1', '0177.0.0.1', '127.1', '0x7F000001']},
	{name: '[::1]', spellings: ['[::1]', '[0:0:0:0:0:0:0:1]', '[0000::0001]', '[::0:1]']},
	{name: 'example.org.', spellings: ['example.org', 'example.org.', 'EXAMPLE.ORG.']},
];

type Resource = {
	readonly https: boolean;
	readonly host: number;
	/** `undefined`: the scheme's default port. */
	readonly port: number | undefined;
	readonly segments: readonly string[];
};

const resource: fc.Arbitrary<Resource> = fc.record({
	https: fc.boolean(),
	host: fc.nat(hosts.length - 1),
	port: fc.option(fc.constantFrom(8080, 8443, 3000), {nil: undefined}),
	segments: fc.array(segmentValue, {minLength: 1, maxLength: 4}),
});

/** Random choices a spelling is drawn from; the same resource with other choices is another spelling. */
const spellingChoices = fc.record({
	schemeCase: fc.array(fc.boolean(), {minLength: 5, maxLength: 5}),
	slashes: fc.constantFrom('//', '//', '///', '\\\\', '/\\'),
	userinfo: fc.constantFrom('', 'user@', 'user:pass@'),
	hostSpelling: fc.nat(),
	explicitDefaultPort: fc.constantFrom('', 'default', 'zeros', 'empty'),
	charChoices: fc.array(fc.boolean(), {minLength: 1, maxLength: 16}),
	separators: fc.array(fc.constantFrom('/', '/', '//', '///', '/./', '/%2e/', '/junk/../', '/junk/%2E%2e/', '/junk/.%2E/'), {minLength: 5, maxLength: 5}),
	leading: fc.constantFrom('', '/..', '/.', '/%2e%2e'),
	trailing: fc.constantFrom('', '/', '//', '/.'),
	query: fc.constantFrom('', '?', '?a=1', '?token=t0k3n&b=2', '?x=%41'),
	fragment: fc.constantFrom('', '#', '#part', '#a/b?c'),
});

type Choices = typeof spellingChoices extends fc.Arbitrary<infer T> ? T : never;

/** A spelling of `resource`; with user info only when `userinfo` is set (fetch refuses it, `normalizeUrl()` drops it). */
function spell(resource: Resource, choices: Choices, userinfo = false): string {
	const scheme = [...(resource.https ? 'https' : 'http')].map((char, index) => (choices.schemeCase[index] ? char.toUpperCase() : char)).join('');
	const host = hosts[resource.host]!;
	const hostSpelling = host.spellings[choices.hostSpelling % host.spellings.length]!;
	let port = '';
	if (resource.port !== undefined) {
		port = choices.explicitDefaultPort === 'zeros' ? `:00${resource.port}` : `:${resource.port}`;
	} else if (choices.explicitDefaultPort === 'default') {
		port = resource.https ? ':443' : ':80';
	} else if (choices.explicitDefaultPort === 'zeros') {
		port = resource.https ? ':0443' : ':080';
	} else if (choices.explicitDefaultPort === 'empty') {
		port = ':';
	}

	let path = choices.leading;
	resource.segments.forEach((value, index) => {
		path += (index === 0 ? '/' : choices.separators[index % choices.separators.length]!) + spellSegment(value, choices.charChoices);
	});
	// The URL parser trims spaces at the end of its input: a raw space there is no part of the path.
	const url = `${scheme}:${choices.slashes}${userinfo ? choices.userinfo : ''}${hostSpelling}${port}${path}${choices.trailing}${choices.query}${choices.fragment}`;
	return url.replace(/ +$/, spaces => '%20'.repeat(spaces.length));
}

/** A canonical identity of a resource, independent of any spelling. */
function identity(resource: Resource): string {
	const host = hosts[resource.host]!.name.replace(/\.$/, '');
	return JSON.stringify([host, resource.port ?? 'default', resource.https || resource.port !== undefined ? '' : 'http', resource.segments]);
}

const defaultKeys = compileKeys(undefined);

/** The key the default rule gives, on the path `lanes.fetch` takes (a `Request`, then the rule's view of it). */
async function defaultKeyOf(url: string): Promise<string> {
	const {keys} = defaultKeys.resolve(await toLaneRequest(new Request(url), false));
	expect(keys).toHaveLength(1);
	return keys[0]!;
}

test('key fuzz - every spelling of one resource gets one default lane key', async () => {
	await fc.assert(
		fc.asyncProperty(resource, spellingChoices, spellingChoices, async (target, first, second) => {
			const a = spell(target, first);
			const b = spell(target, second);
			const [keyA, keyB] = [await defaultKeyOf(a), await defaultKeyOf(b)];
			if (keyA !== keyB) {
				throw new Error(`${a} -> ${keyA}\n${b} -> ${keyB}`);
			}
		}),
		options,
	);
}, timeout);

test('key fuzz - defaultKey(normalizeUrl()) agrees, user info included', async () => {
	await fc.assert(
		fc.asyncProperty(resource, spellingChoices, spellingChoices, async (target, first, second) => {
			const a = spell(target, first, true);
			const b = spell(target, second, true);
			const keyA = defaultKey(normalizeUrl(a));
			expect(defaultKey(normalizeUrl(b)), `${a} / ${b}`).toBe(keyA);
			expect(keyA).toBe(await defaultKeyOf(spell(target, first)));
		}),
		options,
	);
}, timeout);

test('key fuzz - different resources never share a default lane key', async () => {
	await fc.assert(
		fc.asyncProperty(resource, resource, spellingChoices, spellingChoices, async (one, other, first, second) => {
			// http and https of one host and port are one server's resources: they may share a lane.
			const same = identity(one) === identity(other) || (identity({...one, https: true}) === identity({...other, https: true}) && one.port === undefined);
			fc.pre(!same);
			const [keyA, keyB] = [await defaultKeyOf(spell(one, first)), await defaultKeyOf(spell(other, second))];
			if (keyA === keyB) {
				throw new Error(`${spell(one, first)} and ${spell(other, second)} share ${keyA}`);
			}
		}),
		options,
	);
}, timeout);

test('key fuzz - dot segments after a segment starting with a dot are resolved (the URL parser of Node 20 leaves them)', async () => {
	expect(await defaultKeyOf('http://h.example/x/.a/.')).toBe('h.example/x/.a');
	expect(await defaultKeyOf('http://h.example/x/.a/..')).toBe('h.example/x');
	expect(await defaultKeyOf('http://h.example/x/.a/./y/')).toBe('h.example/x/.a/y');
	expect(await defaultKeyOf('http://h.example/x/.a//../y')).toBe('h.example/x/.a/y');
	expect(normalizeUrl('http://h.example/x/.a/../..').pathname).toBe('/');
});

test('key fuzz - a refused URL is shown exactly, an @ in its path included, without user info or query', async () => {
	const lanes = createLanes();
	const error = await lanes.fetch('https://user:pw-Sx1@api.example/users/a@b.example/x?token=Sx2').catch((error_: unknown) => error_ as Error);
	expect((error as Error).message).toBe(
		'Expected `url` to have no user name or password (fetch refuses them; send credentials in a header such as `Authorization`), got `"https://api.example/users/a@b.example/x"` (string)',
	);
});

test('key fuzz - a domain with the root dot (example.com.) is the same host', async () => {
	expect(await defaultKeyOf('https://API.example.com.:443/x')).toBe('api.example.com/x');
	expect(normalizeUrl('https://api.example.com./x').host).toBe('api.example.com');
	expect(await defaultKeyOf('http://127.0.0.1.:8080/x')).toBe('127.0.0.1:8080/x');
});

test('key fuzz - the default key does not depend on the scheme, only on host, port and path', async () => {
	expect(await defaultKeyOf('http://a.example/x')).toBe(await defaultKeyOf('https://a.example/x'));
	expect(await defaultKeyOf('http://a.example:443/x')).toBe('a.example:443/x');
	expect(await defaultKeyOf('https://a.example/x')).toBe('a.example/x');
});

// --- patterns ---------------------------------------------------------------------------------

const patternKeys = compileKeys(['/v1/objects/:id/**']);

test('key fuzz - a pattern rule gives every spelling of one path the same key', async () => {
	await fc.assert(
		fc.asyncProperty(resource, spellingChoices, spellingChoices, async (target, first, second) => {
			const withPrefix: Resource = {...target, segments: ['v1', 'objects', ...target.segments]};
			const keyOf = async (url: string) => patternKeys.resolve(await toLaneRequest(new Request(url), false)).keys;
			const [keysA, keysB] = [await keyOf(spell(withPrefix, first)), await keyOf(spell(withPrefix, second))];
			expect(keysA).toHaveLength(1);
			expect(keysA[0]).toMatch(/^v1\/objects\/[^/]+$/);
			expect(keysB).toEqual(keysA);
		}),
		options,
	);
}, timeout);

// --- capacities() -------------------------------------------------------------------------------

const uuid = fc.uuid();

/** `/object` spelled another way: slashes, dot segments, escapes of its unreserved letters. */
function spellPath(path: string, choices: Choices): string {
	const segments = path.split('/').filter(Boolean);
	let out = choices.leading;
	segments.forEach((segment, index) => {
		const separator = index === 0 ? '/' : choices.separators[index % choices.separators.length]!;
		out += separator + spellSegment(segment, choices.charChoices);
	});
	return out + choices.trailing;
}

/** A UUID spelled in mixed case, some characters escaped. */
function spellId(id: string, choices: readonly boolean[]): string {
	return [...id]
		.map((char, index) => {
			const upper = choices[index % choices.length]! ? char.toUpperCase() : char;
			return choices[(index * 5) % choices.length]! && choices[(index * 3) % choices.length]! ? percentEscape(upper, [choices[index % choices.length]!]) : upper;
		})
		.join('');
}

type CapacitiesCall = {readonly method: string; readonly url: string; readonly body?: string};

function spellCapacities(id: string, kind: 'get' | 'get-markdown' | 'patch' | 'delete', choices: Choices, noise: string): CapacitiesCall {
	const origin = `${choices.schemeCase[0] ? 'HTTPS' : 'https'}:${choices.slashes}API.capacities.IO${choices.explicitDefaultPort === 'default' ? ':443' : ''}`;
	const spelledId = spellId(id, choices.charChoices);
	const query = (params: string[]) => `?${(choices.schemeCase[1] ? params.reverse() : params).join('&')}`;
	switch (kind) {
		case 'get': {
			return {method: 'GET', url: `${origin}${spellPath('/object', choices)}${query([`id=${spelledId}`, noise])}${choices.fragment}`};
		}

		case 'get-markdown': {
			return {method: 'GET', url: `${origin}${spellPath('/object/markdown', choices)}${query([`id=${spelledId}`, noise])}`};
		}

		case 'delete': {
			return {method: 'DELETE', url: `${origin}${spellPath('/object', choices)}${query([`id=${spelledId}`, `id=${spelledId}`, noise])}`};
		}

		default: {
			return {method: 'PATCH', url: `${origin}${spellPath('/object', choices)}${choices.query}`, body: JSON.stringify({id: id.toUpperCase() === id ? id.toLowerCase() : id.toUpperCase(), properties: {}})};
		}
	}
}

const capacitiesKeys = compileKeys(capacities());

async function capacitiesKeyOf(call: CapacitiesCall): Promise<readonly string[]> {
	const request = new Request(call.url, {method: call.method, headers: {'content-type': 'application/json'}, body: call.body ?? null});
	return capacitiesKeys.resolve(await toLaneRequest(request, true)).keys;
}

const callKind = fc.constantFrom('get', 'get-markdown', 'patch', 'delete') as fc.Arbitrary<'get' | 'get-markdown' | 'patch' | 'delete'>;
const noise = fc.constantFrom('x=1', 'hardDelete=false', 'token=abc', 'a=%20b');

test('key fuzz - capacities(): every spelling of one object gets the lane objects/<id>', async () => {
	await fc.assert(
		fc.asyncProperty(uuid, callKind, callKind, spellingChoices, spellingChoices, noise, async (id, kindA, kindB, first, second, extra) => {
			const a = spellCapacities(id, kindA, first, extra);
			const b = spellCapacities(id, kindB, second, extra);
			const [keysA, keysB] = [await capacitiesKeyOf(a), await capacitiesKeyOf(b)];
			expect(keysA).toEqual([`objects/${id.toLowerCase()}`]);
			expect(keysB).toEqual(keysA);
		}),
		options,
	);
}, timeout);

test('key fuzz - capacities(): different objects never share a lane', async () => {
	await fc.assert(
		fc.asyncProperty(uuid, uuid, callKind, callKind, spellingChoices, spellingChoices, noise, async (one, other, kindA, kindB, first, second, extra) => {
			fc.pre(one.toLowerCase() !== other.toLowerCase());
			const [keysA, keysB] = [await capacitiesKeyOf(spellCapacities(one, kindA, first, extra)), await capacitiesKeyOf(spellCapacities(other, kindB, second, extra))];
			expect(keysA.some(key => keysB.includes(key))).toBe(false);
		}),
		options,
	);
}, timeout);

// --- through lanes.fetch ------------------------------------------------------------------------

test('key fuzz - through lanes.fetch, two spellings of one resource run one after the other in one lane', async () => {
	const keysSeen: string[][] = [];
	const lanes = createLanes({fetch: async () => new Response('{}'), pacing: false});
	lanes.on('start', event => {
		keysSeen.push([...event.keys]);
	});
	await fc.assert(
		fc.asyncProperty(resource, spellingChoices, spellingChoices, async (target, first, second) => {
			keysSeen.length = 0;
			const [a, b] = [spell(target, first), spell(target, second)];
			await Promise.all([lanes.fetch(a, {method: 'PUT', body: '1'}), lanes.fetch(b, {method: 'PUT', body: '2'})]);
			expect(keysSeen).toHaveLength(2);
			expect(keysSeen[0]).toEqual(keysSeen[1]);
		}),
		{numRuns: Math.min(runs, 2000)},
	);
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0});
});

// --- malformed URLs -----------------------------------------------------------------------------

const secretText = fc.string({unit: fc.constantFrom(...'abcXYZ0189-._~!$&()*+,;=%'), minLength: 4, maxLength: 10}).map(text => `Sx${text}`);

const malformedHost = fc.constantFrom(
	'exa mple.com',
	'a^b.example',
	'a|b.example',
	'a<b.example',
	'[::1',
	'[::zz]',
	'%zz.example',
	'a%00b.example',
	'xn--a.example',
	'256.256.256.256.256',
	'0x100000000',
	'',
	'a.example:99999',
	'a.example:port',
	'a.example:-1',
);

const malformed = fc.oneof(
	fc.record({scheme: fc.constantFrom('http', 'https', 'HTTPS'), host: malformedHost}).map(({scheme, host}) => `${scheme}://{userinfo}${host}/objects/1{query}`),
	fc.constantFrom('ftp', 'file', 'mailto', 'ws', 'data', 'javascript', 'blob:https').map(scheme => `${scheme}://{userinfo}files.example/objects/1{query}`),
	fc.constantFrom('/objects/1{query}', 'objects/1{query}', '//{userinfo}a.example/x{query}', '{userinfo}a.example/x{query}', 'http:{userinfo}{query}'),
);

test('key fuzz - a malformed URL rejects with a precise TypeError that shows neither user info nor query', async () => {
	const lanes = createLanes({fetch: async () => new Response('{}')});
	await fc.assert(
		fc.asyncProperty(malformed, secretText, secretText, fc.boolean(), async (template, password, token, viaUpdate) => {
			const url = template.replace('{userinfo}', `user:${password}@`).replace('{query}', `?token=${token}&id=1`);
			let error: unknown;
			try {
				await (viaUpdate ? lanes.update(url, state => state) : lanes.fetch(url, {method: 'PATCH', body: '{}'}));
			} catch (error_) {
				error = error_;
			}

			expect(error).toBeInstanceOf(TypeError);
			const {message, stack} = error as TypeError;
			expect(message).toMatch(/^Expected `url` to (?:be an absolute http\(s\) URL|have no user name or password .*), got `".*"` \(string\)$/);
			expect((error as TypeError).cause).toBeUndefined();
			for (const secret of [password, token]) {
				expect(message).not.toContain(secret);
				expect(stack).not.toContain(secret);
			}
		}),
		options,
	);
	expect(lanes.stats()).toMatchObject({active: 0, queued: 0});
}, timeout);

// --- the canonical spelling that needs no parse -------------------------------------------------

/** Pieces of URLs: mostly ones the parser leaves as they are (`usual`), some near the edges of that (`edge`). */
const canonicalParts = {
	scheme: {usual: ['http://', 'https://'], edge: ['HTTP://', 'http:/', 'http:\\\\', 'ftp://', '']},
	userinfo: {usual: [''], edge: ['u@', 'u:p@', '@']},
	label: {usual: ['a', 'api', 'example', 'com', 'x1', 'b-c', 'a-', '0', '1', '127', '255'], edge: ['-a', 'xn--', 'xn--nxasmq6b', 'XN--a', 'A', '01', '256', '0x7f', '0X1', '1e3', '', 'é', 'a_b', '%61']},
	port: {usual: ['', ':1', ':8080', ':65535'], edge: [':', ':0', ':80', ':443', ':08080', ':65536', ':123456', ':x']},
	pathChar: {
		usual: ['a', 'Z', '0', '-', '.', '_', '~', '!', '$', '&', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/'],
		edge: ["'", '%', '%41', '%2e', '[', ']', '^', '|', '\\', ' ', '"', '<', '>', '`', '{', '}', '#', 'é', '\t'],
	},
	queryChar: {usual: ['a', '=', '&', '%', '?', '/', '+', '%2F'], edge: ["'", '"', '[', '<', ' ', '#', 'é', '\n', '%zz']},
};

function piece(part: {usual: readonly string[]; edge: readonly string[]}) {
	return fc.oneof({weight: 12, arbitrary: fc.constantFrom(...part.usual)}, {weight: 1, arbitrary: fc.constantFrom(...part.edge)});
}

const nearCanonical = fc
	.record({
		scheme: piece(canonicalParts.scheme),
		userinfo: piece(canonicalParts.userinfo),
		labels: fc.array(piece(canonicalParts.label), {minLength: 1, maxLength: 4}),
		port: piece(canonicalParts.port),
		slash: fc.constantFrom('/', '/', '/', ''),
		path: fc.array(piece(canonicalParts.pathChar), {maxLength: 12}),
		query: fc.option(fc.array(piece(canonicalParts.queryChar), {maxLength: 8}), {nil: undefined}),
	})
	.map(({scheme, userinfo, labels, port, slash, path, query}) => `${scheme}${userinfo}${labels.join('.')}${port}${slash}${path.join('')}${query === undefined ? '' : `?${query.join('')}`}`);

test('key fuzz - a URL taken as spelled (no parse) is exactly what normalizing it would give', () => {
	let taken = 0;
	let refused = 0;
	fc.assert(
		fc.property(nearCanonical, url => {
			const start = canonicalPathStart(url);
			if (start === -1) {
				refused++;
				return;
			}

			taken++;
			expect(normalizeUrl(url).href).toBe(url);
			expect(pathStart(url)).toBe(start);
		}),
		{numRuns: Math.max(runs * 10, 2000)},
	);
	// Both sides must be reached, or the property proves nothing.
	expect(taken).toBeGreaterThan(50);
	expect(refused).toBeGreaterThan(50);
}, timeout);

test('key fuzz - URLs taken as spelled: the usual API URLs, and not the spellings the parser would change', () => {
	for (const url of ['http://127.0.0.1:8080/object', 'https://api.capacities.io/object?id=9f2c&x=%20', 'https://api.example.com/', 'http://a-.b/x@y:z', 'http://0.0.0.0/']) {
		expect(canonicalPathStart(url)).toBe(pathStart(url));
	}

	for (const url of ['http://127.1/', 'http://0x7f.0.0.1/', 'http://1.2.3.04/', 'http://256.1.1.1/', 'http://EXAMPLE.com/', 'http://example.com:80/', 'https://example.com:443/', 'http://example.com:0443/', 'https://xn--nxasmq6b.com/', 'http://example.com/a/../b', 'http://example.com/a/.', 'http://example.com/a?', 'http://a.b./x', 'http://a', 'http://a/b/', 'http://a//b', "http://a/b?x='", 'http://a/%41', 'http://u@a/', 'http://a/b#c', 'http://a:65536/']) {
		expect(canonicalPathStart(url)).toBe(-1);
	}
});

test('key fuzz - the URL remembered as canonical answers only for itself', () => {
	const a = 'http://127.0.0.1:8080/object';
	const start = pathStart(a);
	expect(canonicalPathStart(a)).toBe(start);
	// The same spelling built anew, then spellings that differ from it by one character.
	expect(canonicalPathStart(['http://127.0.0.1:8080', 'object'].join('/'))).toBe(start);
	for (const url of ['http://127.0.0.1:8080/objec/', 'http://127.0.0.1:0080/object', 'http://127.0.0.1:8080/objec?', `${a}/`, 'http://127.0.0.1:80/object']) {
		expect(canonicalPathStart(url)).toBe(-1);
		expect(canonicalPathStart(a)).toBe(start);
	}

	const other = 'http://127.0.0.1:8080/Object';
	expect(canonicalPathStart(other)).toBe(pathStart(other));
	expect(canonicalPathStart(a)).toBe(start);

	// A refused spelling does not replace what is remembered, and a later canonical one does.
	expect(canonicalPathStart('http://EXAMPLE.com/')).toBe(-1);
	expect(canonicalPathStart(a)).toBe(start);
	expect(canonicalPathStart('https://api.example.com/v1/x?y=1')).toBe(pathStart('https://api.example.com/v1/x?y=1'));
	expect(canonicalPathStart(a)).toBe(start);

	// The remembered origin (scheme, host, port) spares reading it again, and only when the path follows it at once.
	for (const url of [`${a}?id=1`, 'http://127.0.0.1:8080/other/path?q=a%20b&r=?', 'http://127.0.0.1:8080/']) {
		expect(canonicalPathStart(url)).toBe(start);
	}

	for (const url of ['http://127.0.0.1:80801/object', 'http://127.0.0.1:8080./object', 'http://127.0.0.1:8080/obj%41?x', 'http://127.0.0.1:8080/a?', 'http://127.0.0.1:8080/a?b#c', "http://127.0.0.1:8080/a?b'", 'http://127.0.0.1:8080/a/./b?x', 'http://127.0.0.1:8080/a\\b']) {
		expect(canonicalPathStart(url)).toBe(-1);
	}

	// Another origin of the same length is read in full, and then remembered.
	expect(canonicalPathStart('http://127.0.0.2:8080/object?id=2')).toBe(start);
	expect(canonicalPathStart('http://127.0.0.2:0080/object')).toBe(-1);
	expect(canonicalPathStart('http://127.0.0.1:8080/object?id=3')).toBe(start);
});

test('key fuzz - a URL with the remembered origin and path and another query gets the verdict of a full reading', () => {
	const base = 'https://api.capacities.io/object?id=9f2c';
	let taken = 0;
	let refused = 0;
	fc.assert(
		fc.property(fc.array(piece(canonicalParts.queryChar), {maxLength: 8}), query => {
			const url = `https://api.capacities.io/object?${query.join('')}`;
			fc.pre(url !== base);
			// Another path remembered: `url` is read in full.
			canonicalPathStart('http://other.example/x?y=1');
			const full = canonicalPathStart(url);
			// Then `base`'s origin and path (which `url` shares) are remembered, and `url` is read for its query alone.
			expect(canonicalPathStart(base)).toBe(pathStart(base));
			const quick = canonicalPathStart(url);
			expect(quick).toBe(full);
			if (quick === -1) {
				refused++;
			} else {
				taken++;
				expect(normalizeUrl(url).href).toBe(url);
			}
		}),
		{numRuns: Math.max(runs * 5, 1000)},
	);
	expect(taken).toBeGreaterThan(50);
	expect(refused).toBeGreaterThan(50);

	// The remembered part ends with the `?`: a longer path, or one without a query, is read in full.
	expect(canonicalPathStart(base)).toBe(pathStart(base));
	for (const [url, expected] of [
		['https://api.capacities.io/objects?id=1', pathStart('https://api.capacities.io/objects?id=1')],
		['https://api.capacities.io/object?', -1],
		['https://api.capacities.io/object?id=1#x', -1],
		['https://api.capacities.io/object?id=a b', -1],
		['https://api.capacities.io/object?id=%41', pathStart(base)],
	] as const) {
		expect(canonicalPathStart(url)).toBe(expected);
		expect(canonicalPathStart(base)).toBe(pathStart(base));
	}
}, timeout);
