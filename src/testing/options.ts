import {randomBytes} from 'node:crypto';
import {invalid} from '../errors/describe.js';
import {type FaultsOption, normalizeFaults} from './faults.js';
import {isRecord} from './input.js';
import type {LwwObjectInit} from './types.js';

/**
How the server treats concurrent writes:
- `'lww'`: last write wins, no conflict detection (like Capacities).
- `'etag'`: a strong `ETag: "<version>"` on object answers; `If-None-Match` on reads answers 304;
  `If-Match` on writes must match the version stored at write-back time, else 412 (like Rekord).
- `'version'`: objects carry a read-only integer `version`; a write stating another `version` answers
  400 `VERSION_MISMATCH` (like Square).
In the last two, a write without a precondition is applied as in `'lww'`.
*/
export type LwwMode = 'lww' | 'etag' | 'version';

/** A rate limit: at most `limit` requests per `interval` milliseconds. */
export type RateLimitOptions = {
	readonly limit: number;
	/** Window length in milliseconds. */
	readonly interval: number;
	/**
	What one window counts: all requests of the token, or (as Capacities does) the requests of the
	token to one endpoint (method and path).
	@default 'token'
	*/
	readonly per?: 'token' | 'endpoint';
};

/** Options of `startLwwServer()`. All optional; the defaults give a quiet, fast, reproducible server. */
export type LwwServerOptions = {
	/**
	TCP port; `0` picks a free one (read it back from `server.url`).
	@default 0
	*/
	readonly port?: number;
	/**
	Interface to listen on.
	@default '127.0.0.1'
	*/
	readonly host?: string;
	/**
	The bearer token clients must send (`Authorization: Bearer <token>`).
	@default a random `cap-api-…` token
	*/
	readonly token?: string;
	/**
	Time every request waits before it is answered, in milliseconds: a fixed value or a `[min, max]`
	range drawn from the seeded generator. Writes read the stored object *before* this wait and write it
	back after it, which is what makes concurrent writes lose each other's changes.
	@default [5, 30]
	@example latency: 0
	*/
	readonly latency?: number | readonly [min: number, max: number];
	/**
	Seed of the pseudo-random generator behind latencies, random faults and generated ids: the same
	seed and the same request order give the same run.
	@default 1
	*/
	readonly seed?: number;
	/**
	The space's initial content: a number of generated pages (each with a `counter` number property
	and a small block tree), or the objects themselves. Ids are in `server.objectIds`.
	@default 0
	@example objects: 3
	*/
	readonly objects?: number | readonly LwwObjectInit[];
	/**
	Concurrency behaviour: `'lww'` (no conflict detection), `'etag'` (ETag / If-Match → 412) or
	`'version'` (a `version` field → 400 `VERSION_MISMATCH`). Every mutation of an object, block
	operations included, increments its version; the check and the write-back happen together, after
	the latency wait.
	@default 'lww'
	@example mode: 'etag'
	*/
	readonly mode?: LwwMode;
	/**
	Rate limit per token: excess requests get 429 `cap_rate_limit_exceeded` with `Retry-After`, and
	every response carries `RateLimit: limit=…, remaining=…, reset=…`. `false` = unlimited.
	@default false
	*/
	readonly rateLimit?: RateLimitOptions | false;
	/**
	Injected failures: random (`{rate, kinds}`) or decided per request by a function. `false` = none.
	`server.injectFaults()` scripts the next requests on top of this.
	@default false
	*/
	readonly faults?: FaultsOption | false;
};

export type NormalizedOptions = {
	readonly port: number;
	readonly host: string;
	readonly token: string;
	readonly latency: readonly [number, number];
	readonly seed: number;
	readonly objects: number | readonly unknown[];
	readonly mode: LwwMode;
	readonly rateLimit: Required<RateLimitOptions> | false;
	readonly faults: FaultsOption | false;
};

const knownOptions = ['port', 'host', 'token', 'latency', 'seed', 'objects', 'mode', 'rateLimit', 'faults'];
const maxObjects = 100_000;
const modes: readonly LwwMode[] = ['lww', 'etag', 'version'];

function isNonNegative(value: unknown): value is number {
	return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function normalizeLatency(value: unknown): readonly [number, number] {
	if (value === undefined) {
		return [5, 30];
	}

	if (isNonNegative(value)) {
		return [value, value];
	}

	if (Array.isArray(value) && value.length === 2) {
		const [min, max] = value as unknown[];
		if (isNonNegative(min) && isNonNegative(max) && min <= max) {
			return [min, max];
		}
	}

	throw invalid('latency', 'a number >= 0 or a `[min, max]` pair of numbers with 0 <= min <= max', value);
}

function normalizeToken(value: unknown): string {
	if (value === undefined) {
		return `cap-api-${randomBytes(16).toString('hex')}`;
	}

	// The token is a credential: say what is wrong with it without showing it.
	if (typeof value === 'string') {
		if (!/^[\u0021-\u007E]+$/.test(value)) {
			throw new TypeError(
				`Expected \`token\` to be a non-empty string of visible ASCII characters, got a string of length ${value.length}`,
			);
		}

		return value;
	}

	throw invalid('token', 'a non-empty string of visible ASCII characters', value);
}

function normalizeRateLimit(value: unknown): Required<RateLimitOptions> | false {
	if (value === undefined || value === false) {
		return false;
	}

	if (!isRecord(value)) {
		throw invalid('rateLimit', 'an object `{limit, interval}` or `false`', value);
	}

	const {limit, interval, per = 'token'} = value;
	if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
		throw invalid('rateLimit.limit', 'an integer >= 1', limit);
	}

	if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1) {
		throw invalid('rateLimit.interval', 'an integer >= 1 (milliseconds)', interval);
	}

	if (per !== 'token' && per !== 'endpoint') {
		throw invalid('rateLimit.per', "`'token'` or `'endpoint'`", per);
	}

	return {limit, interval, per};
}

/** Validates every option eagerly and fills in the defaults (the only place defaults live). */
export function normalizeOptions(options: unknown): NormalizedOptions {
	if (options === undefined) {
		options = {};
	}

	if (!isRecord(options)) {
		throw invalid('options', 'an object', options);
	}

	for (const key of Object.keys(options)) {
		if (!knownOptions.includes(key)) {
			throw invalid(key, `absent: it is not an option (known: ${knownOptions.join(', ')})`, options[key]);
		}
	}

	const {port = 0, host = '127.0.0.1', seed = 1, objects = 0, mode = 'lww'} = options;
	if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
		throw invalid('port', 'an integer from 0 to 65535', port);
	}

	if (typeof host !== 'string' || host === '') {
		throw invalid('host', 'a non-empty string', host);
	}

	if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
		throw invalid('seed', 'a safe integer', seed);
	}

	if (
		!Array.isArray(objects) &&
		(typeof objects !== 'number' || !Number.isInteger(objects) || objects < 0 || objects > maxObjects)
	) {
		throw invalid('objects', `an integer from 0 to ${maxObjects} or an array of objects`, objects);
	}

	if (!modes.includes(mode as LwwMode)) {
		throw invalid('mode', "`'lww'`, `'etag'` or `'version'`", mode);
	}

	return {
		port,
		host,
		token: normalizeToken(options.token),
		latency: normalizeLatency(options.latency),
		seed,
		objects: objects as number | readonly unknown[],
		mode: mode as LwwMode,
		rateLimit: normalizeRateLimit(options.rateLimit),
		faults: normalizeFaults(options.faults),
	};
}
