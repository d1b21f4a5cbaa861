import {describe, invalid} from '../errors/describe.js';
import {scrub, secretsOf} from '../errors/redact.js';
import {normalizeUrl, shownUrl} from './normalize.js';
import type {LaneRequest} from './types.js';

/** `application/json` or any `+json` media type (`application/merge-patch+json`), parameters ignored. */
export function isJsonContentType(contentType: string | null): boolean {
	if (contentType === null) {
		return false;
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

/**
What the key rule sees of `fetch(input, init)`. For a URL with a string body (what batches send) it is
built directly, as `toLaneRequest()` would see it, without the cost of a `Request` and a body clone;
anything else (and anything the platform might refuse) goes through `toRequest()`.
*/
export async function laneRequestOf(input: RequestInfo | URL, init: RequestInit | undefined, readsBody: boolean): Promise<LaneRequest> {
	const body = init?.body;
	if ((typeof input === 'string' || input instanceof URL) && (body === undefined || body === null || typeof body === 'string')) {
		let headers: Headers | undefined;
		let url: URL | undefined;
		try {
			const raw = typeof input === 'string' ? new URL(input) : input;
			// fetch refuses user info; normalizeUrl() would drop it.
			if (raw.username === '' && raw.password === '') {
				headers = new Headers(init?.headers);
				url = normalizeUrl(raw);
			}
		} catch {
			// The Request path gives the error, without credentials.
		}

		if (headers && url) {
			if (typeof body === 'string' && !headers.has('content-type')) {
				// What fetch sends with a string body.
				headers.set('content-type', 'text/plain;charset=UTF-8');
			}

			let parsed: unknown;
			if (readsBody && typeof body === 'string' && isJsonContentType(headers.get('content-type'))) {
				try {
					parsed = JSON.parse(body);
				} catch {
					parsed = undefined;
				}
			}

			return {method: String(init?.method ?? 'GET').toUpperCase(), url, headers, body: parsed};
		}
	}

	return toLaneRequest(toRequest(input, init), readsBody);
}
