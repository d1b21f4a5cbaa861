import {formatKey, WritelaneError, type WritelaneErrorOptions} from './writelane-error.js';

/** The lane already holds `maxQueuePerKey` waiting operations; nothing was queued. */
export class QueueFullError extends WritelaneError {
	override name = 'QueueFullError';
	override readonly code = 'WL_QUEUE_FULL';
	/** The bound that was reached. */
	readonly limit: number;

	constructor(key: string, limit: number) {
		super(`Lane ${formatKey(key)} already has ${limit} queued operations (\`maxQueuePerKey\`)`, {key});
		this.limit = limit;
	}
}

/** The operation waited longer than `queueTimeout` for its lane; it was removed from the queue. */
export class LaneTimeoutError extends WritelaneError {
	override name = 'LaneTimeoutError';
	override readonly code = 'WL_LANE_TIMEOUT';
	/** Milliseconds waited. */
	readonly timeout: number;

	constructor(key: string | readonly string[], timeout: number) {
		super(`Waited ${timeout} ms for lane ${formatKey(key)} without getting it (\`queueTimeout\`)`, {key});
		this.timeout = timeout;
	}
}

/** The lanes instance is closed (or closing) and takes no new operations, or dropped a queued one. */
export class ClosedError extends WritelaneError {
	override name = 'ClosedError';
	override readonly code = 'WL_CLOSED';

	constructor(message = 'The lanes instance is closed', options: WritelaneErrorOptions = {}) {
		super(message, options);
	}
}

/** The lock backend failed (unreachable, lost lease); writes fail closed rather than run unguarded. */
export class BackendError extends WritelaneError {
	override name = 'BackendError';
	override readonly code = 'WL_BACKEND';
}

/** The server's answer that ended an operation, without headers. */
export type Reply = {readonly status: number; readonly body: unknown};

/**
`update()` could not apply its change: every attempt's write was refused as a conflict (412, 409, a
version mismatch) because someone else changed the resource in between.
*/
export class ConflictError extends WritelaneError {
	override name = 'ConflictError';
	override readonly code = 'WL_CONFLICT';
	/** Attempts made (read, mutate, write). */
	readonly attempts: number;
	/** Status of the server's last answer. */
	readonly status: number | undefined;
	/** The server's last answer (status and parsed body); never request headers. */
	readonly reply: Reply | undefined;

	constructor(message: string, options: WritelaneErrorOptions & {attempts: number; reply?: Reply | undefined}) {
		super(message, options);
		this.attempts = options.attempts;
		this.status = options.reply?.status;
		this.reply = options.reply;
	}
}

/**
A request made by `update()` answered with a non-2xx status that is not a conflict (or, with
`precondition: false`, any non-2xx status).
*/
export class HttpError extends WritelaneError {
	override name = 'HttpError';
	override readonly code = 'WL_HTTP';
	readonly status: number;
	/** Method and URL without query string or credentials. */
	readonly request: string;
	/**
	The start of the answer's body (at most 120 characters) with the request's credentials and anything
	shaped like one scrubbed, whitespace collapsed; `''` when the body was empty or not read. Says why
	a 409 was not a conflict `update()` could resolve by re-reading (`AlreadyExists`, a locked record …).
	*/
	readonly excerpt: string;

	constructor(status: number, request: string, options: WritelaneErrorOptions & {excerpt?: string | undefined} = {}) {
		const excerpt = options.excerpt ?? '';
		super(excerpt === '' ? `${request} answered ${status}` : `${request} answered ${status}: ${JSON.stringify(excerpt)}`, options);
		this.status = status;
		this.request = request;
		this.excerpt = excerpt;
	}
}

/**
A write failed in the transport (a broken connection, a timeout) after it may have reached the
server, so whether it was applied is unknown. `applied` says what a verifying read found: `true`
(the resource's version moved), `false` (it did not), or `undefined` (no way to tell).
*/
export class UncertainOutcomeError extends WritelaneError {
	override name = 'UncertainOutcomeError';
	override readonly code = 'WL_UNCERTAIN';
	/** The uncertain-outcome policy that handled it. */
	readonly policy: 'settle' | 'verify' | 'fail';
	readonly applied: boolean | undefined;

	constructor(message: string, options: WritelaneErrorOptions & {policy: 'settle' | 'verify' | 'fail'; applied?: boolean | undefined}) {
		super(message, options);
		this.policy = options.policy;
		this.applied = options.applied;
	}
}

/**
A server's answer that `update()` reads as JSON was not JSON (or was empty). `excerpt` is the start
of the body with credentials scrubbed; the body itself is not kept.
*/
export class BodyParseError extends WritelaneError {
	override name = 'BodyParseError';
	override readonly code = 'WL_BODY_PARSE';
	readonly status: number;
	/** Method and URL without query string or credentials. */
	readonly request: string;
	/** At most 120 characters of the body, credentials scrubbed; `''` for an empty body. */
	readonly excerpt: string;

	constructor(status: number, request: string, excerpt: string, options: WritelaneErrorOptions = {}) {
		super(
			excerpt === ''
				? `${request} answered ${status} with an empty body where JSON was expected`
				: `${request} answered ${status} with a body that is not JSON: ${JSON.stringify(excerpt)}`,
			options,
		);
		this.status = status;
		this.request = request;
		this.excerpt = excerpt;
	}
}

/**
User code that writelane calls to decide about a request threw: the key rule, or a preset's hook
(`bucket`, `isConflict`, `versioning.read` / `versioning.write`). The operation failed; its lane,
if it held one, was released. The thrown value is the `cause`.
*/
export class HookError extends WritelaneError {
	override name = 'HookError';
	override readonly code = 'WL_HOOK';
	/** What threw: `'rule'`, `'bucket'`, `'isConflict'`, `'readUrl'`, `'versioning.read'` or `'versioning.write'`. */
	readonly hook: string;

	constructor(message: string, options: WritelaneErrorOptions & {hook: string}) {
		super(message, options);
		this.hook = options.hook;
	}
}
