import {describe, invalid} from '../errors/describe.js';
import {scrub, secretsOf} from '../errors/redact.js';
import {canonicalKey} from './key.js';
import {canonicalPathStart, defaultKey, normalizeInPlace, normalizeUrl, pathStart, shownUrl} from './normalize.js';
import {httpToken} from './token.js';
import type {LaneRequest} from './types.js';

/** `application/json` or any `+json` media type (`application/merge-patch+json`), parameters ignored. */
export function isJsonContentType(contentType: string | null): boolean {
	if (contentType === null) {
		return false;
	}

	// The usual spelling, without the copies the general case makes.
	if (contentType === 'application/json') {
		return true;
	}

	const semicolon = contentType.indexOf(';');
	const type = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
	return type === 'application/json' || (type.endsWith('+json') && type.includes('/'));
}

async function readJson(request: Request): Promise<unknown> {
	try {
		// The clone tees the body: the original stays unread for the transport.
		return (await request.clone().json()) as unknown;
	} catch {
		// Invalid JSON, or a body already used: the rule sees no body rather than failing the request.
		return undefined;
	}
}

/**
What a key rule sees of a `Request`: the method in upper case, the normalized URL (see
`normalizeUrl()`), a copy of the headers (a rule cannot change what is sent) and, when `readsBody`
is set, the request has a body and its content type is JSON, the parsed body read from a clone;
otherwise, and when the body is not valid JSON, `body` is `undefined`. Never consumes `request`'s
body. Throws a `TypeError` naming `url` when the request URL is not http(s).
*/
export async function toLaneRequest(request: Request, readsBody: boolean): Promise<LaneRequest> {
	// Duck-typed: a Request from another realm or fetch implementation is just as good.
	if (typeof (request as Partial<Request> | null)?.clone !== 'function' || typeof request.url !== 'string') {
		throw invalid('request', 'a Request', request);
	}

	const url = normalizeUrl(request.url);
	const headers = new Headers(request.headers);
	const body = readsBody && request.body !== null && isJsonContentType(headers.get('content-type')) ? await readJson(request) : undefined;
	return {method: request.method.toUpperCase(), url, headers, body};
}

/** Every header of a `RequestInit`, read without validating it (its values may be what the platform refused). */
function rawHeaders(headers: unknown): [string, string][] {
	if (headers === undefined || headers === null || typeof headers !== 'object') {
		return [];
	}

	try {
		if (typeof (headers as Headers).entries === 'function' && !Array.isArray(headers)) {
			return [...(headers as Headers).entries()];
		}

		const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
		return pairs.map(pair => [String((pair as unknown[])[0]), String((pair as unknown[])[1])]);
	} catch {
		return [];
	}
}

/**
Why the platform refused `new Request(input, init)`, without its message's credentials: an input
that is not an absolute http(s) URL or that has user info gets our own message (the platform's shows
the whole URL, password and query included); anything else (an invalid header value or method) gets
the platform's reason with every header value and URL secret scrubbed.
*/
export function requestError(input: unknown, init: RequestInit | undefined, error: unknown, relativeAllowed = false): TypeError {
	const url = typeof input === 'string' || input instanceof URL ? input : undefined;
	// A relative input (ky's with a `prefixUrl`) was resolved by the caller: only the platform knows why it failed.
	if (url !== undefined && (url instanceof URL || /^[a-z][a-z\d+.-]*:/i.test(url) || !relativeAllowed)) {
		// Throws our own TypeError naming `url` when it is not an absolute http(s) URL.
		const parsed = normalizeUrl(url);
		const raw = new URL(url);
		if (raw.username !== '' || raw.password !== '') {
			return new TypeError(
				`Expected \`url\` to have no user name or password (fetch refuses them; send credentials in a header such as \`Authorization\`), got ${describe(shownUrl(parsed))}`,
			);
		}
	}

	const requestUrl = url ?? (input as {url?: unknown} | null)?.url;
	const secrets = secretsOf([...rawHeaders(init?.headers), ...rawHeaders((input as {headers?: unknown} | null)?.headers)], typeof requestUrl === 'string' || requestUrl instanceof URL ? requestUrl : undefined);
	const reason = error instanceof Error ? error.message : String(error);
	return new TypeError(`The request could not be built: ${scrub(reason, secrets)}`);
}

/**
`new Request(input, init)`, except that when the platform refuses, the `TypeError` is our own and
never shows credentials (see `requestError()`).
*/
export function toRequest(input: RequestInfo | URL, init?: RequestInit): Request {
	try {
		return new Request(input, init);
	} catch (error) {
		throw requestError(input, init, error);
	}
}

/** The `RequestInit` fields the direct path understands; a call with any other goes through a `Request`. */
const directFields = new Set(['method', 'headers', 'body', 'signal']);
/** Methods fetch refuses although they are tokens. */
const forbiddenMethods = new Set(['CONNECT', 'TRACE', 'TRACK']);
/** The usual spellings, checked and upper-cased ahead. */
const commonMethods = new Map(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].flatMap(method => [[method, method] as const, [method.toLowerCase(), method] as const]));

/** A body fetch extracts afresh on every call, so one `RequestInit` can be sent again as it is. */
function isDirectBody(body: unknown): body is string | ArrayBuffer | ArrayBufferView | URLSearchParams | null | undefined {
	return body === undefined || body === null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof URLSearchParams;
}

/** The body as `Request.json()` reads it: UTF-8 with a leading byte order mark dropped and invalid sequences replaced. */
function bodyText(body: string | ArrayBuffer | ArrayBufferView | URLSearchParams): string | undefined {
	if (typeof body === 'string') {
		const text = body.charCodeAt(0) === 0xfe_ff ? body.slice(1) : body;
		// A lone surrogate becomes U+FFFD on the way to UTF-8.
		return (text as WellFormed).isWellFormed() ? text : (text as WellFormed).toWellFormed();
	}

	if (body instanceof URLSearchParams) {
		return undefined;
	}

	const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
	return utf8.decode(bytes);
}

type WellFormed = string & {isWellFormed(): boolean; toWellFormed(): string};
const utf8 = new TextDecoder();

/**
What the key rule sees of `fetch(input, init)`, built without a `Request` when fetch would accept the
call as it is and could send it again from the same arguments: an absolute http(s) URL without user
info, a valid method that may carry the body, valid headers, a body of text, bytes or
`URLSearchParams` (or none), and no `RequestInit` fields but `method`, `headers`, `body` and
`signal`. It equals what `toLaneRequest(new Request(input, init))` gives. `undefined` for any other
call: the `Request` path decides (and refuses with a credential-free error where the platform would).
`builtIn`: only writelane's own code will see the request (`CompiledKeys.builtIn`), so `url` and
`headers` need not be own properties.
*/
export function directLaneRequest(input: RequestInfo | URL, init: RequestInit | undefined, readsBody: boolean, builtIn = false): LaneRequest | undefined {
	if (typeof input !== 'string' && !(input instanceof URL)) {
		return undefined;
	}

	const body = init?.body;
	if (!isDirectBody(body)) {
		return undefined;
	}

	if (init !== undefined && init !== null) {
		if (typeof init !== 'object') {
			return undefined;
		}

		for (const field in init) {
			if (!directFields.has(field)) {
				return undefined;
			}
		}

		const {signal} = init;
		if (signal !== undefined && signal !== null && !(signal instanceof AbortSignal)) {
			return undefined;
		}
	}

	const rawMethod = init?.method ?? 'GET';
	let method = commonMethods.get(rawMethod as string);
	if (method === undefined) {
		if (typeof rawMethod !== 'string' || !httpToken.test(rawMethod)) {
			return undefined;
		}

		method = rawMethod.toUpperCase();
	}

	const hasBody = body !== undefined && body !== null;
	if (forbiddenMethods.has(method) || (hasBody && (method === 'GET' || method === 'HEAD'))) {
		return undefined;
	}

	// A URL already spelled as the parser and `normalizeUrl()` would spell it is kept as that string:
	// the `URL` is built only if a rule reads `url`. Any other is parsed and normalized now.
	const spelled = typeof input === 'string' ? input : input.href;
	let url: URL | string = spelled;
	let start = canonicalPathStart(spelled);
	if (start === -1) {
		try {
			// A URL of the caller's is copied: normalizing changes the object.
			const raw = new URL(spelled);
			// Read from the serialization: one getter instead of one per part.
			const {href} = raw;
			if (!href.startsWith('http:') && !href.startsWith('https:')) {
				return undefined;
			}

			start = pathStart(href);
			// fetch refuses user info; normalizing would drop it.
			if (start === -1) {
				return undefined;
			}

			url = normalizeInPlace(raw, href, start);
		} catch {
			// The Request path gives the error, without credentials.
			return undefined;
		}
	}

	// Headers given as a plain record of plain values are copied and checked here, and become a
	// `Headers` only when a rule asks for them; any other form is taken through `Headers` at once.
	const given = init?.headers;
	const record = given === undefined ? noHeaders : plainHeaders(given);
	let headers: Headers | undefined;
	let contentType: string | null;
	if (record === undefined) {
		try {
			headers = new Headers(given);
		} catch {
			return undefined;
		}

		contentType = headers.get('content-type');
	} else if (record === invalidHeaders) {
		return undefined;
	} else {
		contentType = hasBody ? contentTypeOf(record) : null;
	}

	let parsed: unknown;
	// What fetch sends with these bodies when the caller names no content type.
	let impliedType: string | undefined;
	if (hasBody) {
		if (contentType === null) {
			if (typeof body === 'string') {
				impliedType = 'text/plain;charset=UTF-8';
			} else if (body instanceof URLSearchParams) {
				impliedType = 'application/x-www-form-urlencoded;charset=UTF-8';
			}

			if (impliedType !== undefined) {
				headers?.set('content-type', impliedType);
				contentType = impliedType;
			}
		}

		if (readsBody && isJsonContentType(contentType)) {
			const text = bodyText(body);
			try {
				parsed = text === undefined ? undefined : JSON.parse(text);
			} catch {
				parsed = undefined;
			}
		}
	}

	if (headers !== undefined) {
		return {method, url: typeof url === 'string' ? new URL(url) : url, headers, body: parsed};
	}

	return new DirectLaneRequest(method, url, start, parsed, record as Record<string, string>, impliedType, builtIn);
}

/**
A `LaneRequest` whose headers, given as a plain record, become a `Headers` when first read (most rules
never read them), and whose URL, when the caller spelled it canonically, becomes a `URL` when first
read: the rules of writelane's presets read its parts from the string (`urlPart()`).

For code of the caller's, `url` and `headers` are own enumerable properties, so a copy
(`{...request}`) has them. Defining them costs about as much as the rest of the request together, so
a request only writelane's own code sees (`builtIn`) reads them from the prototype instead.
*/
class DirectLaneRequest implements LaneRequest {
	declare readonly method: string;
	declare readonly body: unknown;
	static readonly #own: PropertyDescriptorMap = {
		url: {
			enumerable: true,
			get(this: DirectLaneRequest): URL {
				return this.#madeUrl();
			},
		},
		headers: {
			enumerable: true,
			get(this: DirectLaneRequest): Headers {
				return this.#made();
			},
		},
	};

	/** The checked copy of the caller's header record, which the request is also sent with (see `Outgoing.direct()`). */
	static record(request: LaneRequest): Record<string, string> | undefined {
		return #record in request ? request.#record : undefined;
	}

	/** The request, when it holds its URL's canonical spelling and nothing has built a `URL` from it yet. */
	static #spelled(request: LaneRequest): DirectLaneRequest | undefined {
		return #url in request && request.#url === undefined ? request : undefined;
	}

	/**
	`request.url[part]`, read from the URL's canonical spelling when the request holds one and no rule
	has built its `URL` yet, so that a preset's rule costs no URL parse.
	*/
	static urlPart(request: LaneRequest, part: UrlPart): string {
		const spelled = DirectLaneRequest.#spelled(request);
		if (spelled === undefined) {
			return request.url[part];
		}

		const href = spelled.#href;
		switch (part) {
			case 'href': {
				return href;
			}

			case 'origin': {
				return href.slice(0, spelled.#pathStart);
			}

			case 'pathname': {
				return href.slice(spelled.#pathStart, spelled.#queryStart);
			}

			case 'search': {
				return href.slice(spelled.#queryStart);
			}
		}
	}

	/** `defaultKey(request.url)`, from the URL's canonical spelling where the request holds one (see `urlPart()`). */
	static defaultKeyOf(request: LaneRequest): string {
		const spelled = DirectLaneRequest.#spelled(request);
		if (spelled === undefined) {
			return defaultKey(request.url);
		}

		const href = spelled.#href;
		const start = spelled.#pathStart;
		const end = spelled.#queryStart;
		// A canonical spelling has no default port, no root dot and a normal path: host[:port] and the path as they are.
		return canonicalKey(href.slice(href.indexOf('//') + 2, end - start === 1 ? start : end), 'url');
	}

	readonly #href: string;
	readonly #pathStart: number;
	/** Where the query starts in `#href` (at its `?`), or `#href.length` when it has none. */
	readonly #queryStart: number;
	readonly #record: Record<string, string>;
	readonly #impliedType: string | undefined;
	#url: URL | undefined;
	#headers: Headers | undefined;

	constructor(method: string, url: URL | string, pathStart: number, body: unknown, record: Record<string, string>, impliedType: string | undefined, builtIn: boolean) {
		this.method = method;
		if (!builtIn) {
			// One shared descriptor map: every such instance takes the same shape.
			Object.defineProperties(this, DirectLaneRequest.#own);
		}

		this.body = body;
		if (typeof url === 'string') {
			const query = url.indexOf('?', pathStart);
			this.#href = url;
			this.#queryStart = query === -1 ? url.length : query;
			this.#url = undefined;
		} else {
			this.#href = '';
			this.#queryStart = 0;
			this.#url = url;
		}

		this.#pathStart = pathStart;
		this.#record = record;
		this.#impliedType = impliedType;
	}

	get url(): URL {
		return this.#madeUrl();
	}

	get headers(): Headers {
		return this.#made();
	}

	#madeUrl(): URL {
		this.#url ??= new URL(this.#href);
		return this.#url;
	}

	#made(): Headers {
		if (this.#headers === undefined) {
			this.#headers = new Headers(this.#record);
			if (this.#impliedType !== undefined) {
				this.#headers.set('content-type', this.#impliedType);
			}
		}

		return this.#headers;
	}
}

/** The parts of a request's URL that `urlPart()` reads. */
export type UrlPart = 'href' | 'origin' | 'pathname' | 'search';

/** `request.url[part]`, without building the URL where the request holds its canonical spelling (see `directLaneRequest()`). */
export const urlPart = DirectLaneRequest.urlPart;

/** `defaultKey(request.url)`, without building the URL where the request holds its canonical spelling. */
export const defaultKeyOf = DirectLaneRequest.defaultKeyOf;

/** The header record `directLaneRequest()` checked and copied for `request`; `undefined` for any other request. */
export const checkedHeaders = DirectLaneRequest.record;

const noHeaders: Record<string, string> = Object.freeze({}) as Record<string, string>;
const invalidHeaders = Symbol('invalid headers');
/** Field names found valid lately: callers send the same few names, as the same strings, on every call. */
const validNames = new Set<string>();

function isFieldName(name: string): boolean {
	if (validNames.has(name)) {
		return true;
	}

	// A field name is a token (RFC 9110 §5.1).
	if (!httpToken.test(name)) {
		return false;
	}

	// Bounded: a caller that sends ever new names only loses the shortcut.
	if (validNames.size === 256) {
		validNames.clear();
	}

	validNames.add(name);
	return true;
}

/** A field value fetch takes as it is: bytes only, no NUL, CR or LF, nothing to trim. */
const plainFieldValue = /^(?:[^\0\t\n\r \u0100-\uFFFF](?:[^\0\n\r\u0100-\uFFFF]*[^\0\t\n\r \u0100-\uFFFF])?)?$/;

/** The `Content-Type` of a checked header record as `Headers` gives it (spellings that differ in case are one field, joined); `null` when there is none. */
function contentTypeOf(record: Record<string, string>): string | null {
	let contentType: string | null = null;
	for (const name of Object.keys(record)) {
		if (name === 'content-type' || (name.length === 12 && name.toLowerCase() === 'content-type')) {
			contentType = contentType === null ? record[name]! : `${contentType}, ${record[name]!}`;
		}
	}

	return contentType;
}

/**
A copy of `headers` when it is a plain record of string values, each name a token and each value one
fetch takes without trimming (the caller may change its record while the call waits);
`invalidHeaders` when a name or value is one `Headers` refuses for certain; `undefined` for anything
else (other forms, values to convert or trim), which `Headers` decides.
*/
function plainHeaders(headers: unknown): Record<string, string> | typeof invalidHeaders | undefined {
	if (typeof headers !== 'object' || headers === null) {
		return undefined;
	}

	const prototype: unknown = Object.getPrototypeOf(headers);
	if ((prototype !== Object.prototype && prototype !== null) || Object.getOwnPropertySymbols(headers).length > 0) {
		return undefined;
	}

	// Own enumerable string keys, as fetch reads a record; the checks run on the copy, which cannot change under them.
	const copy = {...(headers as Record<string, unknown>)};
	for (const name of Object.keys(copy)) {
		const value = copy[name];
		if (typeof value !== 'string' || !plainFieldValue.test(value)) {
			return undefined;
		}

		if (!isFieldName(name)) {
			return invalidHeaders;
		}
	}

	return copy as Record<string, string>;
}

/**
What the key rule sees of `fetch(input, init)`: `directLaneRequest()` where it applies, else through
`toRequest()` and `toLaneRequest()`.
*/
export async function laneRequestOf(input: RequestInfo | URL, init: RequestInit | undefined, readsBody: boolean): Promise<LaneRequest> {
	return directLaneRequest(input, init, readsBody) ?? toLaneRequest(toRequest(input, init), readsBody);
}
