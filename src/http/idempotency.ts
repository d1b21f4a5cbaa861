import {isJsonContentType} from '../keys/request.js';
import type {Preset} from '../keys/types.js';
import type {Outgoing} from './outgoing.js';

/** Methods that are not idempotent by themselves (RFC 9110 §9.2.2) and get a key. */
const needsKey = new Set(['POST', 'PATCH']);

/**
The request with an idempotency key (a header, or the preset's JSON body field such as Square's
`idempotency_key`) when it is a POST or PATCH without one. The key is made once, so every retry of
the request carries the same key and the server can apply it at most once. `undefined` when the
request cannot carry a key (a body field on a body that is not a JSON object). Answers at once but
where a body field must be read from a `Request`.
*/
export function withIdempotencyKey(outgoing: Outgoing, preset: Preset | undefined, header: string): Outgoing | undefined | Promise<Outgoing | undefined> {
	if (!needsKey.has(outgoing.method)) {
		return undefined;
	}

	const carrier = preset?.idempotency ?? {header};
	if ('header' in carrier) {
		return outgoing.headers.has(carrier.header) ? outgoing : outgoing.with({headers: {[carrier.header]: crypto.randomUUID()}});
	}

	if (!outgoing.hasBody || !isJsonContentType(outgoing.headers.get('content-type'))) {
		return undefined;
	}

	const {text} = outgoing;
	const field = carrier.bodyField;
	return text === undefined ? outgoing.bodyText().then(read => withBodyField(outgoing, read, field)) : withBodyField(outgoing, text, field);
}

function withBodyField(outgoing: Outgoing, text: string | undefined, field: string): Outgoing | undefined {
	let body: unknown;
	try {
		body = JSON.parse(text ?? '');
	} catch {
		return undefined;
	}

	if (typeof body !== 'object' || body === null || Array.isArray(body)) {
		return undefined;
	}

	return field in body ? outgoing : outgoing.with({body: JSON.stringify({...body, [field]: crypto.randomUUID()})});
}
