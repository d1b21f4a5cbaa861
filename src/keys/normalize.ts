import {invalid} from '../errors/describe.js';
import {canonicalKey} from './key.js';

const hexDigits = '0123456789ABCDEF';
const percent = 37;
const slash = 47;

function hexValue(code: number): number {
	if (code >= 48 && code <= 57) {
		return code - 48;
	}

	if (code >= 65 && code <= 70) {
		return code - 55;
	}

	if (code >= 97 && code <= 102) {
		return code - 87;
	}

	return -1;
}

/** RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`. Their escapes mean the same as the characters. */
function isUnreserved(code: number): boolean {
	return (
		(code >= 65 && code <= 90) ||
		(code >= 97 && code <= 122) ||
		(code >= 48 && code <= 57) ||
		code === 45 ||
		code === 46 ||
		code === 95 ||
		code === 126
	);
}

/**
Characters the URL parser leaves raw in a path although a URI may not contain them (`[`, `]`, `^`,
`|`); servers decode them like their escapes, so the escaped form is the canonical one.
*/
function mustEscape(code: number): boolean {
	return code === 91 || code === 93 || code === 94 || code === 124;
}

function percentEncode(code: number): string {
	return `%${hexDigits[code >> 4]}${hexDigits[code & 15]}`;
}

const dot = 46;

/** Whether a segment starting at `start` is `.` or `..` (ends at a slash or the end). */
function isDotSegment(pathname: string, start: number, end: number): boolean {
	if (start >= end || pathname.charCodeAt(start) !== dot) {
		return false;
	}

	const next = start + 1 < end && pathname.charCodeAt(start + 1) === dot ? start + 2 : start + 1;
	return next === end || pathname.charCodeAt(next) === slash;
}

/** Whether the path `pathname.slice(start, end)` has anything `normalizePathname()` would change. */
function needsWork(pathname: string, start = 0, end = pathname.length): boolean {
	const last = end - 1;
	if (last > start && pathname.charCodeAt(last) === slash) {
		return true;
	}

	for (let index = start; index <= last; index++) {
		const code = pathname.charCodeAt(index);
		if (code === percent || mustEscape(code) || (code === slash && (pathname.charCodeAt(index + 1) === slash || isDotSegment(pathname, index + 1, end)))) {
			return true;
		}
	}

	return false;
}

function normalizeSegment(segment: string): string {
	let result = '';
	for (let index = 0; index < segment.length; index++) {
		const code = segment.charCodeAt(index);
		if (code === percent) {
			const high = hexValue(segment.charCodeAt(index + 1));
			const low = high === -1 ? -1 : hexValue(segment.charCodeAt(index + 2));
			if (low === -1) {
				// A lone `%` is read as a literal percent sign by lenient servers: spell it as one.
				result += '%25';
				continue;
			}

			const byte = high * 16 + low;
			result += isUnreserved(byte) ? String.fromCharCode(byte) : percentEncode(byte);
			index += 2;
		} else if (mustEscape(code)) {
			result += percentEncode(code);
		} else {
			result += segment[index];
		}
	}

	return result;
}

/**
The canonical spelling of a URL path that the URL parser has already read: dot segments resolved
(`%2e` included), escapes of unreserved characters decoded, other escapes in upper-case hex,
repeated slashes collapsed, no trailing slash except for the root. Idempotent.

The parser resolves dot segments itself, but not always: Node 20's (ada 2.9) leaves `/x/.a/.` and
`/x/.a/..` as they are, and the server resolves them. So they are resolved here too (RFC 3986
§5.2.4, empty segments counted as the parser counts them, then dropped).
*/
export function normalizePathname(pathname: string): string {
	if (!needsWork(pathname)) {
		return pathname;
	}

	const segments: string[] = [];
	const parts = pathname.split('/');
	for (let index = 1; index < parts.length; index++) {
		const segment = normalizeSegment(parts[index]!);
		if (segment === '..') {
			segments.pop();
		} else if (segment !== '.') {
			segments.push(segment);
		}
	}

	return `/${segments.filter(segment => segment !== '').join('/')}`;
}

/**
What an error may show of a URL the parser rejected: no user info (everything up to the last `@`
after `scheme://`, or from the start when there is no such prefix, since `http:user:pass@host`
parses too) and no query or fragment, where tokens and signatures often travel.
*/
function redact(value: string): string {
	let shown = value;
	const at = shown.lastIndexOf('@');
	if (at !== -1) {
		const scheme = /^[a-z][a-z\d+.-]*:[/\\]+/i.exec(shown);
		shown = (scheme?.[0] ?? '') + shown.slice(at + 1);
	}

	const end = shown.search(/[?#]/);
	return end === -1 ? shown : shown.slice(0, end);
}

/** What a message may show of a URL (see `redact()`); other values are returned as they are. */
export function shownUrl(value: string): string;
export function shownUrl(value: unknown): unknown;
export function shownUrl(value: unknown): unknown {
	if (typeof value === 'string') {
		return redact(value);
	}

	if (value instanceof URL) {
		const shown = `${value.protocol}//${value.host}${value.pathname}`;
		// An http(s) URL's parts are exact (an `@` in its path is just a character); an opaque path
		// (`user:secret@host` parses as one) may hold what looks like user info.
		return value.protocol === 'http:' || value.protocol === 'https:' ? shown : redact(shown);
	}

	return value;
}

const expectedUrl = 'an absolute http(s) URL';

function parse(option: string, input: unknown, base?: string | URL): URL {
	if (typeof input !== 'string' && !(input instanceof URL)) {
		throw invalid(option, `${expectedUrl} (string or URL)`, input);
	}

	let url: URL;
	try {
		url = new URL(input, base);
	} catch {
		throw invalid(option, expectedUrl, shownUrl(input));
	}

	if (url.protocol !== 'http:' && url.protocol !== 'https:') {
		throw invalid(option, expectedUrl, shownUrl(input));
	}

	return url;
}

/**
A canonical copy of an http(s) URL, so that two spellings of one resource compare equal: lower-case
scheme and host, no default port, dot segments resolved (`%2e` included), escapes of unreserved
characters (`A-Z a-z 0-9 - . _ ~`) decoded and all other escapes in upper-case hex, `[ ] ^ |`
escaped, repeated slashes collapsed, no trailing slash (except the root `/`), no fragment, no
user info, and no root dot at the end of a domain (`example.com.`). International domain names are
in their ASCII (punycode) form and IPv4 and IPv6 addresses in their shortest, as the URL parser
spells them. The query is kept as it is (rules may read it); the default key ignores it.

It is what key rules see; the request itself is sent unchanged. Throws a `TypeError` naming `url`
(or `base`) for anything that is not an absolute http(s) URL; the message never shows user info or
the query.

@example
```
normalizeUrl('HTTPS://API.example.com:443/a/./b/../%7Eme//').href;
//=> 'https://api.example.com/a/~me'
```
*/
export function normalizeUrl(input: string | URL, base?: string | URL): URL {
	if (base !== undefined) {
		parse('base', base);
	}

	return normalizeInPlace(parse('url', input, base));
}

/**
Where the path of `href` starts, `href` being how the URL parser serializes an http(s) URL
(`scheme://[user[:password]@]host[:port]/path[?query][#fragment]`); -1 when it has user info.
*/
export function pathStart(href: string): number {
	const authority = href.indexOf('//') + 2;
	// The serialized path always starts with `/`, and the host, port and escaped user info never hold one.
	const start = href.indexOf('/', authority);
	// An `@` before the path can only end user info: the parser escapes one inside it.
	const at = href.lastIndexOf('@', start);
	return at >= authority ? -1 : start;
}

/**
Whether `normalizeInPlace()` would leave the URL serialized as `href` as it is, `start` being where
its path starts (`pathStart()`): no fragment, no root dot ending the host, a path with nothing to
normalize. One pass over the string instead of a getter per part.
*/
function isNormal(href: string, start: number): boolean {
	if (start === -1 || href.includes('#', start)) {
		return false;
	}

	// The host ends before the path or before `:port`; an IPv6 address ends in `]`.
	let hostEnd = start - 1;
	while (hostEnd > 0 && href.charCodeAt(hostEnd) >= 48 && href.charCodeAt(hostEnd) <= 57) {
		hostEnd--;
	}

	if (href.charCodeAt(hostEnd) !== 58) {
		hostEnd = start - 1;
	} else {
		hostEnd--;
	}

	if (href.charCodeAt(hostEnd) === dot) {
		return false;
	}

	const query = href.indexOf('?', start);
	return !needsWork(href, start, query === -1 ? href.length : query);
}

/** `a-z`, `0-9` or `-`: what a host name label may hold and stay as it is through the URL parser. */
function isLabelCode(code: number): boolean {
	return (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45;
}

/** Whether `host.slice(start, end)` is an IPv4 address as the parser spells it: four decimal parts 0-255, no leading zeros. */
function isDottedQuad(host: string, start: number, end: number): boolean {
	let parts = 0;
	let value = -1;
	let digits = 0;
	for (let index = start; index <= end; index++) {
		const code = index === end ? dot : host.charCodeAt(index);
		if (code === dot) {
			if (digits === 0 || value > 255 || ++parts > 4) {
				return false;
			}

			value = -1;
			digits = 0;
		} else if (code >= 48 && code <= 57 && !(digits === 1 && value === 0)) {
			value = (value === -1 ? 0 : value * 10) + code - 48;
			digits++;
		} else {
			return false;
		}
	}

	return parts === 4;
}

/**
Where the path of `input` starts when `input` is certainly an http(s) URL exactly as the URL parser
serializes it and as `normalizeUrl()` leaves it, so that `normalizeUrl(input).href === input`; -1
when that is not certain, and the caller parses. Certain means: a lower-case `http://` or `https://`,
a host of lower-case name labels (`a-z 0-9 -`, the last starting with a letter, none an `xn--`
punycode label) or an IPv4 address in its shortest form, an optional port (no leading zero, not the
scheme's default, at most 65535), a path, and an optional non-empty query, both of characters the
parser never changes (`notPlainInPath`), with nothing for `normalizePathname()` to do; no user info,
no fragment. Most URLs an API client builds pass; for them no `URL` needs to be built.

The last URL found canonical is remembered, and so are its origin and, of the last one with a
query, everything before the query: a client that writes to one endpoint (`PATCH /object`) sends
the same URL again and again, one that reads (`GET /object?id=`) the same origin and path with
another query, and comparing two strings costs less than reading one.
*/
export function canonicalPathStart(input: string): number {
	if (input === lastCanonical) {
		return lastStart;
	}

	// The origin and path of the last canonical URL with a query, with another query: only that is read.
	const path = lastPath;
	if (path !== undefined && input.length > path.length && input.startsWith(path)) {
		notPlainInQuery.lastIndex = path.length;
		if (notPlainInQuery.test(input)) {
			return -1;
		}

		lastCanonical = input;
		lastStart = lastPathStart;
		return lastPathStart;
	}

	// Everything up to the path's `/` is what was found canonical last time: only the rest is read.
	const origin = lastOrigin;
	const known = origin !== undefined && input.startsWith(origin) && input.charCodeAt(origin.length) === slash;
	const start = known ? origin.length : scanOrigin(input);
	const query = start === -1 ? -1 : canonicalQuery(input, start);
	if (query === -1) {
		return -1;
	}

	if (!known) {
		lastOrigin = input.slice(0, start);
	}

	if (query !== input.length) {
		lastPath = input.slice(0, query + 1);
		lastPathStart = start;
	}

	lastCanonical = input;
	lastStart = start;
	return start;
}

let lastCanonical: string | undefined;
let lastStart = -1;
/** The part before the path of `lastCanonical` (scheme, host and port). */
let lastOrigin: string | undefined;
/** Of the last canonical URL with a query, everything up to the query's `?` (included), and where its path starts. */
let lastPath: string | undefined;
let lastPathStart = -1;

/** Where the path starts when the scheme, host and port of `input` are certainly canonical (see `canonicalPathStart()`); else -1. */
function scanOrigin(input: string): number {
	let index: number;
	if (input.startsWith('https://')) {
		index = 8;
	} else if (input.startsWith('http://')) {
		index = 7;
	} else {
		return -1;
	}

	const hostStart = index;
	let labelStart = index;
	let code = input.charCodeAt(index);
	for (; index < input.length; code = input.charCodeAt(++index)) {
		if (code === dot) {
			if (index === labelStart) {
				return -1;
			}

			labelStart = index + 1;
		} else if (code === slash || code === 58) {
			break;
		} else if (!isLabelCode(code)) {
			return -1;
		} else if (index === labelStart && code === 120 && input.startsWith('xn--', index)) {
			return -1;
		}
	}

	const hostEnd = index;
	if (labelStart === hostEnd) {
		return -1;
	}

	// A last label that starts with a digit may be read as a number (`127.1`, `0x7f.1`): only the shortest dotted quad is certain.
	const first = input.charCodeAt(labelStart);
	if (!(first >= 97 && first <= 122) && !isDottedQuad(input, hostStart, hostEnd)) {
		return -1;
	}

	if (code === 58) {
		const portStart = index + 1;
		let port = 0;
		for (code = input.charCodeAt(++index); code >= 48 && code <= 57; code = input.charCodeAt(++index)) {
			port = port * 10 + code - 48;
		}

		const digits = index - portStart;
		if (digits === 0 || digits > 5 || input.charCodeAt(portStart) === 48 || port > 65_535 || port === (hostStart === 8 ? 443 : 80)) {
			return -1;
		}
	}

	return code === slash ? index : -1;
}

/**
The first character (from `lastIndex` on) of a path that is not plain: the URL parser never escapes,
decodes or otherwise changes a plain path or query character in an http(s) URL, and
`normalizePathname()` leaves it as it is. Plain are the unreserved characters, the sub-delimiters,
`:`, `@` and `/`; not `%`, not `'`, which a query escapes, not `\`, which the parser reads as `/`. A
`?`, where the query starts, is found as not plain. A match leaves `lastIndex` just after it.
*/
const notPlainInPath = /[^!$&(-;=@-Z_a-z~]/g;
/** The same for a query, which also keeps `%` and `?` as they are. */
const notPlainInQuery = /[^!$%&(-;=?@-Z_a-z~]/g;

/**
When the path of `input` from `start` and its query (if any) are certainly canonical (see
`canonicalPathStart()`): where the query's `?` is, or `input.length` when there is no query; else -1.
*/
function canonicalQuery(input: string, start: number): number {
	notPlainInPath.lastIndex = start;
	if (!notPlainInPath.test(input)) {
		return needsWork(input, start, input.length) ? -1 : input.length;
	}

	const query = notPlainInPath.lastIndex - 1;
	// A query must not be empty (`?` alone at the end is dropped by the parser).
	if (input.charCodeAt(query) !== 63 || query === input.length - 1 || needsWork(input, start, query)) {
		return -1;
	}

	notPlainInQuery.lastIndex = query + 1;
	return notPlainInQuery.test(input) ? -1 : query;
}

/** `normalizeUrl()` of an http(s) URL the caller owns (just parsed): normalizes `url` itself, without another parse. */
export function normalizeInPlace(url: URL, href = url.href, start = pathStart(href)): URL {
	if (isNormal(href, start)) {
		return url;
	}

	if (url.username !== '' || url.password !== '') {
		url.username = '';
		url.password = '';
	}

	if (url.hash !== '') {
		url.hash = '';
	}

	const host = withoutRootDot(url.hostname);
	if (host !== url.hostname) {
		url.hostname = host;
	}

	const pathname = normalizePathname(url.pathname);
	if (pathname !== url.pathname) {
		url.pathname = pathname;
	}

	return url;
}

/**
A domain spelled as a fully qualified name (`example.com.`) names the same host as without the root's
dot. IP addresses never end in one (the parser drops it from IPv4).
*/
function withoutRootDot(hostname: string): string {
	return hostname.length > 1 && hostname.endsWith('.') && !hostname.endsWith('..') ? hostname.slice(0, -1) : hostname;
}

/**
The default lane key of a URL: `host[:port]` followed by the normalized path segments, without
scheme, query or fragment. `https://API.example.com:443/objects//9f2c/?x=1` →
`api.example.com/objects/9f2c`. The host keeps one instance able to serve several APIs.
*/
export function defaultKey(url: URL): string {
	if (!(url instanceof URL)) {
		throw invalid('url', 'a URL', url);
	}

	const pathname = normalizePathname(url.pathname);
	const host = url.port === '' ? withoutRootDot(url.hostname) : `${withoutRootDot(url.hostname)}:${url.port}`;
	const key = pathname === '/' ? host : host + pathname;
	if (key === '' || key === '/') {
		throw invalid('url', 'a URL with a host or a path', shownUrl(url));
	}

	return canonicalKey(key, 'url');
}
