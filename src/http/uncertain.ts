import type {Engine, LaneContext} from '../core/engine.js';
import type {LaneRequest} from '../keys/types.js';
import {versionOf} from '../occ/conflict.js';
import {handleUncertain, type UncertainPolicy} from '../occ/uncertain.js';
import {attempt, type HttpDeps, InFlightFailure} from './attempt.js';
import {type Outgoing, type Prepared, prepare, type Transport} from './outgoing.js';

/** Headers that belong to the write itself; everything else (credentials, API version …) goes on the re-read. */
const writeOnly = new Set([
	'content-type',
	'content-length',
	'content-encoding',
	'content-language',
	'content-md5',
	'transfer-encoding',
	'if-match',
	'if-none-match',
	'if-modified-since',
	'if-unmodified-since',
	'if-range',
	'idempotency-key',
]);

/**
The GET that reads what `write` changed: where the preset's `readUrl` says (Capacities writes
`PATCH /object` and reads `GET /object?id=…`), else the write's own URL; with the write's headers
but those that only make sense on a write, and without the caller's signal (it may have aborted).
*/
export async function readBack(deps: HttpDeps, write: Outgoing, laneRequest: LaneRequest): Promise<Prepared> {
	const location = deps.keys.preset?.readUrl?.(laneRequest) ?? write.url;
	const headers = new Headers();
	for (const [name, value] of write.headers) {
		if (!writeOnly.has(name)) {
			headers.set(name, value);
		}
	}

	return prepare(new URL(location, write.url).href, {headers}, {readsBody: false, builtIn: deps.keys.builtIn});
}

/** The version of the resource `read` answers now (its strong ETag or the preset's version field); `undefined` when it has none. */
export async function versionNow(deps: HttpDeps, transport: Transport, context: LaneContext, read: Prepared): Promise<string | undefined> {
	let response: Response;
	try {
		response = await attempt(deps, transport, read.outgoing, {context, laneRequest: read.laneRequest});
	} catch (error) {
		throw error instanceof InFlightFailure ? error.error : error;
	}

	let body: unknown;
	if (response.ok) {
		body = await response.json().catch(() => undefined);
	} else {
		response.body?.cancel().catch(() => undefined);
	}

	return versionOf(response.headers.get('etag'), body, deps.keys.preset?.versioning);
}

/**
Re-reads the resource `write` changed and says whether its version moved past the one the write was
based on (its `If-Match`, or the version field of its body); `undefined` when either is unknown.
*/
export async function verifyWrite(deps: HttpDeps, transport: Transport, context: LaneContext, write: Outgoing, laneRequest: LaneRequest): Promise<boolean | undefined> {
	const before = versionOf(write.headers.get('if-match'), laneRequest.body, deps.keys.preset?.versioning);
	if (before === undefined) {
		return undefined;
	}

	const after = await versionNow(deps, transport, context, await readBack(deps, write, laneRequest));
	return after === undefined ? undefined : before !== after;
}

/** What the adapters pass to `failUncertain()`. */
export type UncertainWrite = {
	readonly engine: Engine;
	readonly policy: UncertainPolicy;
	readonly context: LaneContext;
	readonly failure: InFlightFailure;
	readonly verify: () => Promise<boolean | undefined>;
	/** Told the caller's error as soon as it is known, while the lane may stay held a while longer. */
	readonly report?: ((error: unknown) => void) | undefined;
};

/**
Applies the `uncertain` policy to a write whose outcome is unknown, inside its lane, and rejects
with the caller's `UncertainOutcomeError` once the lane may go on. `report` hears the error first,
so a caller is not kept waiting for `'settle'`'s grace period (its own timeout may be what fired).
*/
export async function failUncertain(write: UncertainWrite): Promise<never> {
	const {engine, context, failure} = write;
	const verdict = await handleUncertain(
		write.policy,
		{
			keys: context.keys,
			verify: write.verify,
			failQueued(reason) {
				engine.failQueued(context.keys, reason);
			},
		},
		failure.error,
		failure.aborted ? 'aborted' : 'transport',
	);
	write.report?.(verdict.error);
	await verdict.held;
	throw verdict.error;
}
