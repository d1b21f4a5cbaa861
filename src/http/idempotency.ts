import {isJsonContentType} from '../keys/request.js';
import type {Preset} from '../keys/types.js';

/** Methods that are not idempotent by themselves (RFC 9110 §9.2.2) and get a key. */
const needsKey = new Set(['POST', 'PATCH']);

/**
The request with an idempotency key (a header, or the preset's JSON body field such as Square's
`idempotency_key`) when it is a POST or PATCH without one. The key is made once, so every retry of
the request carries the same key and the server can apply it at most once. Returns `undefined` when
the request cannot carry a key (a body field on a body that is not a JSON object).
*/
export async function withIdempotencyKey(request: Request, preset: Preset | undefined, header: string): Promise<Request | undefined> {
	if (!needsKey.has(request.method)) {
		return undefined;
	}

	const carrier = preset?.idempotency ?? {header};
	if ('header' in carrier) {
		if (request.headers.has(carrier.header)) {
			return request;
		}

		const headers = new Headers(request.headers);
		headers.set(carrier.header, crypto.randomUUID());
		return new Request(request, {headers});
	}

	if (request.body === null || !isJsonContentType(request.headers.get('content-type'))) {
		return undefined;
	}

	let body: unknown;
	try {
		body = JSON.parse(await request.clone().text());
	} catch {
		return undefined;
	}

	if (typeof body !== 'object' || body === null || Array.isArray(body)) {
		return undefined;
	}

	if (carrier.bodyField in body) {
		return request;
	}

	return new Request(request, {body: JSON.stringify({...body, [carrier.bodyField]: crypto.randomUUID()})});
}
