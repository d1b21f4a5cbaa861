import type {IncomingHttpHeaders} from 'node:http';
import {isRecord} from './input.js';
import type {LwwMode} from './options.js';
import {InputError, type Reply, ReplyError} from './reply.js';

/** What a mode sees of a write: the headers, the query string and the parsed JSON body. */
export type ModeRequest = {
	readonly headers: IncomingHttpHeaders;
	readonly query: URLSearchParams;
	readonly body: unknown;
};

/**
What a concurrency mode adds to the pipeline. The read and write hooks run synchronously next to the
store access they guard, so a check and the write-back it allows cannot be separated by another
request.
- `checkInput`: when a write is routed, before the wait; throws an `InputError` (400) for a malformed
  precondition, so bad input is never counted as a conflict.
- `checkRead`: before a read of one object is answered; a reply replaces the answer (`'etag'`: 304
  for a matching If-None-Match).
- `checkWrite`: after the wait, right before the write-back, with the version stored *now*
  (`undefined`: no such object); a `ConflictReply` rejects the write (`'etag'`: 412; `'version'`:
  400 `VERSION_MISMATCH`).
- `versionHeaders`: headers describing the version of the object in a response (`'etag'`: ETag).
- `present`: the body of an answer about an object at a version (`'version'`: adds `version`).
*/
export type ModeStrategy = {
	readonly name: LwwMode;
	readonly checkInput: (request: ModeRequest) => void;
	readonly checkRead: (headers: IncomingHttpHeaders, version: number) => Reply | undefined;
	readonly checkWrite: (request: ModeRequest, objectId: string, version: number | undefined) => ConflictReply | undefined;
	readonly versionHeaders: (version: number) => Readonly<Record<string, string>>;
	readonly present: (body: unknown, version: number) => unknown;
};

/** A write refused because its precondition names another version; answered in the mode's own error format. */
export class ConflictReply extends ReplyError {
	override name = 'ConflictReply';
	readonly #body: unknown;

	constructor(status: number, code: string, message: string, body: unknown, headers: Readonly<Record<string, string>> = {}) {
		super(status, code, message, headers);
		this.#body = body;
	}

	override toReply(): Reply {
		return {status: this.status, body: this.#body, headers: this.headers};
	}
}

const unchanged = (body: unknown): unknown => body;

/** Last write wins: no preconditions, no version on the wire (the version counter is still kept). */
const lww: ModeStrategy = {
	name: 'lww',
	checkInput() {},
	checkRead: () => undefined,
	checkWrite: () => undefined,
	versionHeaders: () => ({}),
	present: unchanged,
};

type EntityTag = {readonly weak: boolean; readonly opaque: string};

// One list member: an optionally weak quoted tag, then a comma or the end (RFC 9110 §8.8.3).
const tagPattern = /[ \t]*(W\/)?"([^"]*)"[ \t]*(?:,|$)/y;

/** The tags of an If-Match / If-None-Match field; members that are not entity tags are dropped (they never match). */
function parseTags(field: string): EntityTag[] {
	const tags: EntityTag[] = [];
	let index = 0;
	while (index < field.length) {
		tagPattern.lastIndex = index;
		const match = tagPattern.exec(field);
		if (match) {
			tags.push({weak: match[1] !== undefined, opaque: match[2] ?? ''});
			index = tagPattern.lastIndex;
		} else {
			const comma = field.indexOf(',', index);
			index = comma === -1 ? field.length : comma + 1;
		}
	}

	return tags;
}

const isAny = (field: string): boolean => field.trim() === '*';
const etagOf = (version: number): string => `"${version}"`;

/** If-Match compares strongly: a weak tag never matches (RFC 9110 §13.1.1). */
function strongMatch(field: string, version: number): boolean {
	const opaque = String(version);
	return parseTags(field).some(tag => !tag.weak && tag.opaque === opaque);
}

/** If-None-Match compares weakly: `W/"3"` matches `"3"` (RFC 9110 §13.1.2). */
function weakMatch(field: string, version: number): boolean {
	const opaque = String(version);
	return parseTags(field).some(tag => tag.opaque === opaque);
}

function preconditionFailed(message: string, version: number | undefined): ConflictReply {
	return new ConflictReply(
		412,
		'precondition_failed',
		message,
		{error: {status: 412, code: 'precondition_failed', message}},
		version === undefined ? {} : {ETag: etagOf(version)},
	);
}

/**
Rekord-like: a strong `ETag: "<version>"` on every answer about an object; `If-None-Match` on a read
answers 304; `If-Match` on a write must match the version stored at write-back time, else 412.
Without `If-Match` a write is applied as in `'lww'`.
*/
const etag: ModeStrategy = {
	name: 'etag',
	checkInput() {},
	checkRead(headers, version) {
		const field = headers['if-none-match'];
		if (field !== undefined && (isAny(field) || weakMatch(field, version))) {
			return {status: 304, body: undefined, headers: {ETag: etagOf(version)}};
		}

		return undefined;
	},
	checkWrite({headers}, objectId, version) {
		const ifMatch = headers['if-match'];
		if (ifMatch !== undefined) {
			if (version === undefined) {
				return preconditionFailed(`If-Match cannot match: object ${objectId} does not exist`, undefined);
			}

			if (!(isAny(ifMatch) || strongMatch(ifMatch, version))) {
				return preconditionFailed(`If-Match does not match the current ETag ${etagOf(version)} of object ${objectId}`, version);
			}

			return undefined;
		}

		// Evaluated only without If-Match (RFC 9110 §13.2.2); on a write a match fails the request.
		const ifNoneMatch = headers['if-none-match'];
		if (ifNoneMatch !== undefined && version !== undefined && (isAny(ifNoneMatch) || weakMatch(ifNoneMatch, version))) {
			return preconditionFailed(`If-None-Match matches the current ETag ${etagOf(version)} of object ${objectId}`, version);
		}

		return undefined;
	},
	versionHeaders: version => ({ETag: etagOf(version)}),
	present: unchanged,
};

const integerPattern = /^-?\d+$/;

/** The version a write states: `version` in a JSON object body, else `?version=`; `undefined` when none. */
function statedVersion({body, query}: ModeRequest): number | undefined {
	if (isRecord(body) && body.version !== undefined) {
		const {version} = body;
		if (typeof version !== 'number' || !Number.isSafeInteger(version)) {
			throw new InputError('version', 'an integer', version);
		}

		return version;
	}

	const fromQuery = query.get('version');
	if (fromQuery === null) {
		return undefined;
	}

	if (!integerPattern.test(fromQuery) || !Number.isSafeInteger(Number(fromQuery))) {
		throw new InputError('version', 'an integer', fromQuery);
	}

	return Number(fromQuery);
}

/**
Square-like: objects carry a read-only integer `version`; a write stating another `version` than the
one stored at write-back time answers 400 `VERSION_MISMATCH`. Without `version` a write is applied as
in `'lww'`.
*/
const versionField: ModeStrategy = {
	name: 'version',
	checkInput(request) {
		statedVersion(request);
	},
	checkRead: () => undefined,
	checkWrite(request, objectId, version) {
		const stated = statedVersion(request);
		if (stated === undefined || stated === version) {
			return undefined;
		}

		const detail =
			version === undefined
				? `Object ${objectId} does not exist, so it has no version ${stated}`
				: `Object ${objectId} is at version ${version}, the request has version ${stated}`;
		return new ConflictReply(400, 'VERSION_MISMATCH', detail, {
			errors: [{category: 'INVALID_REQUEST_ERROR', code: 'VERSION_MISMATCH', detail, field: 'version'}],
		});
	},
	versionHeaders: () => ({}),
	present: (body, version) => (isRecord(body) ? {...body, version} : body),
};

export function modeStrategy(mode: LwwMode): ModeStrategy {
	switch (mode) {
		case 'lww': {
			return lww;
		}

		case 'etag': {
			return etag;
		}

		case 'version': {
			return versionField;
		}
	}
}
