import {describe, invalid} from '../errors/describe.js';
import {isRecord} from './input.js';
import type {Random} from './random.js';

/**
A failure the server can inject into one request:
- `500`, `503`: answer with that status after the latency, without applying anything.
- `429`, `{retryAfter: seconds}`: answer 429 `cap_rate_limit_exceeded` with `Retry-After: 1` (or
  the given whole seconds, `0` allowed) after the latency, without applying anything.
- `'reset-before'`: destroy the connection on arrival, before anything is applied.
- `'reset-after'`: apply the request, then destroy the connection without answering (the client sees
  a network error for a write that did happen: an uncertain outcome).
- `{slow: ms}`: add `ms` to the latency, then answer normally.
*/
export type FaultKind =
	| 500
	| 503
	| 429
	| 'reset-before'
	| 'reset-after'
	| {readonly slow: number}
	| {readonly retryAfter: number};

/** How `report().faults` counts a kind: `'500'`, `'503'`, `'429'`, `'reset-before'`, `'reset-after'`, `'slow'`. */
export type FaultName = '500' | '503' | '429' | 'reset-before' | 'reset-after' | 'slow';

/** What a fault function sees of a request. */
export type FaultRequest = {
	readonly method: string;
	/** Path without the query string. */
	readonly path: string;
	/** 1-based number of the request since the server started or was `reset()`. */
	readonly n: number;
};

/** Random faults (`rate` per request, kind drawn from `kinds`) or a function that decides per request. */
export type FaultsOption =
	| {
			/**
			Probability in [0, 1] that a request gets a fault.
			@default 0.1
			*/
			readonly rate?: number;
			/**
			The kinds to draw from, uniformly.
			@default [500, 503, 'reset-before', 'reset-after']
			*/
			readonly kinds?: readonly FaultKind[];
	  }
	| ((request: FaultRequest) => FaultKind | undefined);

const defaultKinds: readonly FaultKind[] = [500, 503, 'reset-before', 'reset-after'];
const kindExpectation =
	"`500`, `503`, `429`, `'reset-before'`, `'reset-after'`, `{slow: ms}` with ms >= 0 or `{retryAfter: seconds}` with an integer >= 0";

export function isFaultKind(value: unknown): value is FaultKind {
	if (value === 500 || value === 503 || value === 429 || value === 'reset-before' || value === 'reset-after') {
		return true;
	}

	if (!isRecord(value) || Object.keys(value).length !== 1) {
		return false;
	}

	if ('slow' in value) {
		return typeof value.slow === 'number' && Number.isFinite(value.slow) && value.slow >= 0;
	}

	return Number.isSafeInteger(value.retryAfter) && (value.retryAfter as number) >= 0;
}

export function faultName(kind: FaultKind): FaultName {
	if (typeof kind === 'number') {
		return String(kind) as FaultName;
	}

	if (typeof kind === 'string') {
		return kind;
	}

	return 'slow' in kind ? 'slow' : '429';
}

/** `Retry-After` of a 429 fault, in whole seconds; `undefined` for the other kinds. */
export function retryAfterOf(kind: FaultKind | undefined): number | undefined {
	if (kind === 429) {
		return 1;
	}

	return typeof kind === 'object' && 'retryAfter' in kind ? kind.retryAfter : undefined;
}

function checkKind(value: unknown, option: string): FaultKind {
	if (!isFaultKind(value)) {
		throw invalid(option, kindExpectation, value);
	}

	return value;
}

/** Validates the `faults` option; returns a normalized copy. */
export function normalizeFaults(value: unknown): FaultsOption | false {
	if (value === undefined || value === false) {
		return false;
	}

	if (typeof value === 'function') {
		return value as (request: FaultRequest) => FaultKind | undefined;
	}

	if (!isRecord(value)) {
		throw invalid('faults', 'an object `{rate, kinds}`, a function or `false`', value);
	}

	for (const key of Object.keys(value)) {
		if (key !== 'rate' && key !== 'kinds') {
			throw invalid(`faults.${key}`, 'absent (known keys: `rate`, `kinds`)', value[key]);
		}
	}

	const rate = value.rate ?? 0.1;
	if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
		throw invalid('faults.rate', 'a number from 0 to 1', value.rate);
	}

	const kinds = value.kinds ?? defaultKinds;
	if (!Array.isArray(kinds) || kinds.length === 0) {
		throw invalid('faults.kinds', 'a non-empty array of fault kinds', value.kinds);
	}

	return {rate, kinds: kinds.map((kind, index) => checkKind(kind, `faults.kinds[${index}]`))};
}

/** Validates the argument of `server.injectFaults()`. */
export function normalizeScript(value: unknown): Array<FaultKind | undefined> {
	if (!Array.isArray(value)) {
		throw invalid('next', 'an array of fault kinds (or `undefined` for no fault)', value);
	}

	return Array.from(value, (kind: unknown, index) =>
		kind === undefined ? undefined : checkKind(kind, `next[${index}]`),
	);
}

/** Decides the fault of each request: scripted ones first, then the `faults` option. */
export class FaultPlan {
	readonly #option: FaultsOption | false;
	readonly #random: Random;
	#script: Array<FaultKind | undefined> = [];

	constructor(option: FaultsOption | false, random: Random) {
		this.#option = option;
		this.#random = random;
	}

	inject(next: ReadonlyArray<FaultKind | undefined>): void {
		this.#script.push(...next);
	}

	/** Throws a `TypeError` when a fault function returns something that is not a fault kind. */
	next(request: FaultRequest): FaultKind | undefined {
		if (this.#script.length > 0) {
			return this.#script.shift();
		}

		const option = this.#option;
		if (option === false) {
			return undefined;
		}

		if (typeof option === 'function') {
			const kind: unknown = option(request);
			if (kind !== undefined && !isFaultKind(kind)) {
				throw new TypeError(`Expected \`faults\` to return ${kindExpectation} or undefined, got ${describe(kind)}`);
			}

			return kind;
		}

		const {rate = 0.1, kinds = defaultKinds} = option;
		if (rate === 0 || this.#random.next() >= rate) {
			return undefined;
		}

		return kinds[Math.floor(this.#random.next() * kinds.length)];
	}
}
