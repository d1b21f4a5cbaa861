import {invalid} from '../errors/describe.js';

/** A response the pipeline sends. */
export type Reply = {
	readonly status: number;
	readonly body: unknown;
	readonly headers?: Readonly<Record<string, string>>;
};

/** A request the server refuses; answered as a Capacities error body `{code, message}`. */
export class ReplyError extends Error {
	override name = 'ReplyError';

	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly headers: Readonly<Record<string, string>> = {},
	) {
		super(message);
	}

	toReply(): Reply {
		return {status: this.status, body: {code: this.code, message: this.message}, headers: this.headers};
	}
}

/**
Invalid client input (`cap_invalid_input`, 400). Keeps the field, the expectation and the value so
option validation can re-throw it as a `TypeError` naming the option path.
*/
export class InputError extends ReplyError {
	override name = 'InputError';

	constructor(
		readonly field: string,
		readonly expected: string,
		readonly value: unknown,
	) {
		super(400, 'cap_invalid_input', invalid(field, expected, value).message);
	}
}

export function notFound(message: string): ReplyError {
	return new ReplyError(404, 'cap_not_found', message);
}
