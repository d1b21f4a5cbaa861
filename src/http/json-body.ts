import {describe} from '../errors/describe.js';
import {BodyParseError} from '../errors/errors.js';
import {excerpt, secretsOf} from '../errors/redact.js';
import type {RequestSummary} from '../core/events.js';
import type {Outgoing} from './outgoing.js';

/**
The parsed JSON body of `response` to `request`. A body that is empty or not JSON rejects with
`BodyParseError` (status, method and URL without query, and a short excerpt with the request's
credentials and anything shaped like one scrubbed), never with the parser's `SyntaxError`, whose
message quotes the body as it is.
*/
export async function readJsonBody(response: Response, request: Outgoing, summary: RequestSummary, key: readonly string[]): Promise<unknown> {
	const text = await response.text();
	if (text.trim() !== '') {
		try {
			return JSON.parse(text) as unknown;
		} catch {
			// Reported below, without the parser's message.
		}
	}

	throw new BodyParseError(response.status, `${summary.method} ${summary.url}`, excerpt(text, secretsOf(request.headers, request.url)), {key});
}

function notEncodable(value: unknown, reason: string): TypeError {
	return new TypeError(`Expected \`mutate\` to return a value JSON can encode, or \`undefined\` to write nothing, got ${describe(value)}${reason}`);
}

/**
The JSON text of what `mutate` returned (after the preset added its version). A value JSON cannot
encode (a symbol, a function, a bigint, a cycle, an object whose `toJSON()` gives nothing) throws a
`TypeError` before anything is sent: `JSON.stringify()` would give `undefined`, and the write would go
out without a body.
*/
export function encodeWriteBody(next: unknown, body: unknown): string {
	for (const value of [next, body]) {
		if (typeof value === 'symbol' || typeof value === 'function' || typeof value === 'bigint') {
			throw notEncodable(value, '');
		}
	}

	let text: string | undefined;
	try {
		text = JSON.stringify(body);
	} catch (error) {
		// The engine's own reasons (a bigint inside, a cycle) name no values; a `toJSON()` of the caller's may say anything.
		throw notEncodable(next, error instanceof TypeError ? ` (${error.message.split('\n')[0]})` : ' (its `toJSON()` threw)');
	}

	if (text === undefined) {
		throw notEncodable(next, ' (`JSON.stringify()` gives `undefined`)');
	}

	return text;
}
