import {invalid} from '../core/describe.js';
import {normalizeUrl} from './normalize.js';
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
