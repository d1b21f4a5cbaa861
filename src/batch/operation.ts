import {describe} from '../errors/describe.js';
import {canonicalKeys} from '../keys/key.js';
import {shownUrl} from '../keys/normalize.js';
import {httpToken} from '../keys/token.js';

/**
One operation of a batch, as the input gives it (one NDJSON line parses to one). Either `url` (absolute)
or `path` (joined to the batch's `baseUrl`) names the target.

@example
{id: 'p-17', method: 'PATCH', path: '/object', body: {id: '9f2c…', properties: {…}}}
*/
export type BatchOperation = {
	/**
	Names the operation in results and in the journal; unique within a batch. Without one, the journal
	knows an operation by its position in the input and a hash of its method, URL and body, so give
	ids when the input may change between runs.
	*/
	readonly id?: string | number | undefined;
	/** The HTTP method, e.g. `'PATCH'`. */
	readonly method: string;
	/** Absolute http(s) URL. With a `baseUrl`, it must have that origin. */
	readonly url?: string | undefined;
	/** Path (and query) joined to `baseUrl`: `'/object?id=9f2c'`. */
	readonly path?: string | undefined;
	/** Request headers; they win over the batch's `headers`. */
	readonly headers?: Readonly<Record<string, string>> | undefined;
	/**
	The request body: a string is sent as it is; any other value as JSON, with `content-type:
	application/json` unless `headers` name a content type. `undefined` or `null`: no body.
	*/
	readonly body?: unknown;
	/**
	The lane key(s) the operation takes, instead of what the lanes' key rule decides; `[]` takes no lane.
	@default the lanes' `keys` rule decides
	*/
	readonly key?: string | readonly string[] | undefined;
};

/** An operation checked and resolved: what the batch sends. */
export type PreparedOperation = {
	/** Position in the input, from 0. */
	readonly index: number;
	readonly id: string | undefined;
	readonly method: string;
	/** Absolute URL. */
	readonly url: string;
	readonly headers: ReadonlyArray<readonly [string, string]>;
	readonly body: string | undefined;
	/** Canonical keys when the operation names its lanes. */
	readonly key: readonly string[] | undefined;
};

const fieldNames = ['id', 'method', 'url', 'path', 'headers', 'body', 'key'];
const standardMethods = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']);
const forbiddenMethods = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** Where an operation came from, for messages: `operations[3].` (runBatch) or `''` (the CLI, which names the line). */
type Where = string;

function fail(where: Where, field: string, expected: string, value: unknown): TypeError {
	return new TypeError(`Expected \`${where}${field}\` to be ${expected}, got ${describe(value)}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseId(value: unknown, where: Where): string | undefined {
	if (value === undefined) {
		return undefined;
	}

	if (typeof value === 'string' && value !== '') {
		return value;
	}

	if (typeof value === 'number' && Number.isSafeInteger(value)) {
		return String(value);
	}

	throw fail(where, 'id', 'a non-empty string or an integer', value);
}

function parseMethod(value: unknown, where: Where): string {
	if (typeof value !== 'string' || !httpToken.test(value)) {
		throw fail(where, 'method', 'an HTTP method name such as `"PATCH"`', value);
	}

	const upper = value.toUpperCase();
	if (forbiddenMethods.has(upper)) {
		throw fail(where, 'method', 'a method fetch can send (not CONNECT, TRACE or TRACK)', value);
	}

	// fetch upper-cases the standard methods itself; a custom method keeps its case.
	return standardMethods.has(upper) ? upper : value;
}

function parseAbsolute(value: string, where: Where, field: string): URL {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		throw fail(where, field, 'an absolute http(s) URL', shownUrl(value));
	}

	if (url.protocol !== 'http:' && url.protocol !== 'https:') {
		throw fail(where, field, 'an absolute http(s) URL', shownUrl(value));
	}

	if (url.username !== '' || url.password !== '') {
		throw fail(where, field, 'a URL without user name or password (credentials go in headers)', shownUrl(value));
	}

	return url;
}

function parseTarget(record: Record<string, unknown>, where: Where, baseUrl: URL | undefined): string {
	const {url, path} = record;
	if (url !== undefined && path !== undefined) {
		throw new TypeError(`Expected \`${where}url\` or \`${where}path\`, not both`);
	}

	if (url !== undefined) {
		if (typeof url !== 'string') {
			throw fail(where, 'url', 'an absolute http(s) URL', url);
		}

		const parsed = parseAbsolute(url, where, 'url');
		if (baseUrl !== undefined && parsed.origin !== baseUrl.origin) {
			// The batch's headers carry its credentials: they go to the base URL's origin only.
			throw fail(where, 'url', `a URL on \`baseUrl\`'s origin ${baseUrl.origin}`, shownUrl(url));
		}

		return parsed.href;
	}

	if (path === undefined) {
		throw new TypeError(`Expected \`${where}url\` or \`${where}path\` to name the request's target, got neither`);
	}

	if (typeof path !== 'string' || /^[a-z][a-z\d+.-]*:/i.test(path) || path.startsWith('//')) {
		throw fail(where, 'path', 'a path such as `"/object?id=…"` (an absolute URL goes in `url`)', typeof path === 'string' ? shownUrl(path) : path);
	}

	if (baseUrl === undefined) {
		throw new TypeError(`Expected \`baseUrl\` to be set: \`${where}path\` is relative`);
	}

	// Joined, not resolved: `/object` under `https://host/v1` is `https://host/v1/object`.
	const base = baseUrl.href.replace(/[?#].*$/, '').replace(/\/+$/, '');
	return parseAbsolute(`${base}/${path.replace(/^\/+/, '')}`, where, 'path').href;
}

function parseHeaders(value: unknown, where: Where): Array<[string, string]> {
	if (value === undefined) {
		return [];
	}

	if (!isRecord(value)) {
		throw fail(where, 'headers', 'an object of header names to string values', value);
	}

	const headers: Array<[string, string]> = [];
	for (const [name, content] of Object.entries(value)) {
		if (!httpToken.test(name)) {
			throw fail(where, 'headers', 'an object whose keys are header names', name);
		}

		// A header's value may be a credential: say what is wrong without showing it.
		if (typeof content !== 'string') {
			throw new TypeError(`Expected \`${where}headers.${name}\` to be a string, got a ${content === null ? 'null' : typeof content}`);
		}

		if (/[\r\n\0]/.test(content)) {
			throw new TypeError(`Expected \`${where}headers.${name}\` to be a header value without line breaks or NUL`);
		}

		headers.push([name.toLowerCase(), content]);
	}

	return headers;
}

function parseBody(value: unknown, where: Where, headers: Array<[string, string]>): string | undefined {
	if (value === undefined || value === null) {
		return undefined;
	}

	if (typeof value === 'string') {
		return value;
	}

	let json: string | undefined;
	try {
		json = JSON.stringify(value);
	} catch {
		json = undefined;
	}

	if (json === undefined) {
		throw fail(where, 'body', 'a string or a JSON value', value);
	}

	if (!headers.some(([name]) => name === 'content-type')) {
		headers.push(['content-type', 'application/json']);
	}

	return json;
}

function parseKey(value: unknown, where: Where): readonly string[] | undefined {
	if (value === undefined) {
		return undefined;
	}

	return canonicalKeys(value, `${where}key`);
}

/**
Checks one operation and resolves its URL against `baseUrl`. Throws a `TypeError` naming the field
(prefixed with `where`, e.g. `operations[3].`) for anything invalid, unknown fields included; never
shows a header value, a URL's user info or its query.
*/
export function prepareOperation(value: unknown, index: number, baseUrl: URL | undefined, where: Where): PreparedOperation {
	if (!isRecord(value)) {
		throw new TypeError(`Expected \`${where === '' ? 'the operation' : where.slice(0, -1)}\` to be an object \`{method, url | path, …}\`, got ${describe(value)}`);
	}

	for (const name of Object.keys(value)) {
		if (!fieldNames.includes(name)) {
			throw new TypeError(`Unknown field \`${where}${name}\`; an operation has ${fieldNames.join(', ')}`);
		}
	}

	const headers = parseHeaders(value.headers, where);
	return {
		index,
		id: parseId(value.id, where),
		method: parseMethod(value.method, where),
		url: parseTarget(value, where, baseUrl),
		body: parseBody(value.body, where, headers),
		headers,
		key: parseKey(value.key, where),
	};
}

/** The request of an operation, with the batch's headers under its own. */
export function requestInit(operation: PreparedOperation, batchHeaders: Headers | undefined, signal?: AbortSignal): RequestInit {
	const headers = new Headers(batchHeaders);
	for (const [name, value] of operation.headers) {
		headers.set(name, value);
	}

	return {method: operation.method, headers, body: operation.body ?? null, ...(signal && {signal})};
}

const hex = (bytes: ArrayBuffer): string => [...new Uint8Array(bytes)].map(byte => byte.toString(16).padStart(2, '0')).join('');

/**
How the journal knows an operation: `id:<id>`, or (without an id) its position and a SHA-256 of its
method, URL and body, so that an edited input never passes for an acknowledged one. Headers are left
out: they may carry credentials, and a new token must not make a done operation look new.
*/
export async function journalEntry(operation: PreparedOperation): Promise<string> {
	if (operation.id !== undefined) {
		return `id:${operation.id}`;
	}

	const content = new TextEncoder().encode(JSON.stringify([operation.method, operation.url, operation.body ?? null]));
	const digest = await globalThis.crypto.subtle.digest('SHA-256', content);
	return `#${operation.index}:${hex(digest).slice(0, 32)}`;
}
