/*
runBatch: a stream of HTTP operations through a lanes instance, in input order per lane.

Everything about lanes comes from the instance. Each operation goes through the instance's HTTP
pipeline into the lanes of its keys, resolved once (`lanes.keysOf()`, or the operation's own `key`),
so the engine orders it after every earlier operation it conflicts with, applies the global limits
and retries inside the lane. What runBatch adds happens while the operation holds its lane:
- the pipeline's decline step refuses an operation whose predecessor on one of its keys ended
  unacknowledged, before anything is sent. Its predecessors (the previous write submitted on each of
  its keys) have finished by then, since the lane runs them first, so `acked` is final and the check
  needs no waiting. Usually the decline is not even reached: once an operation fails, the later
  operations on its keys that have not started are aborted while they wait;
- the journal entry of an acknowledged (2xx) operation is appended and flushed in the transport, so
  it is durable before the lane lets the next operation of the key start.

Memory follows the operations in flight (`window`), not the input: sources are read lazily, the
per-key bookkeeping is dropped when an operation settles, and only per-lane counters stay.
*/
import {clock} from '../core/clock.js';
import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import type {RateLimit} from '../core/limiter.js';
import {classify} from '../keys/classify.js';
import type {OperationKind} from '../keys/types.js';
import type {Transport} from '../http/outgoing.js';
import {type Pipeline, pipelines} from '../http/pipeline.js';
import type {Lanes} from '../lanes.js';
import {type BatchJournal, isJournal} from './journal.js';
import {shownUrl} from '../keys/normalize.js';
import {type BatchOperation, journalEntry, type PreparedOperation, prepareOperation, requestInit} from './operation.js';

/** Options of `runBatch()`. */
export type BatchOptions = {
	/** The lanes the operations run in: their key rule, global limits (concurrency, rate) and retry policy apply. */
	readonly lanes: Lanes;
	/**
	What operations' `path` is joined to, and the only origin an operation's absolute `url` may have
	(the batch's `headers` go nowhere else).
	@example 'https://api.capacities.io'
	*/
	readonly baseUrl?: string | URL | undefined;
	/** Headers for every operation, e.g. `Authorization`; an operation's own headers win. Never journaled or reported. */
	readonly headers?: HeadersInit | undefined;
	/**
	The transport each attempt is sent with (inside its lane).
	@default globalThis.fetch
	*/
	readonly fetch?: typeof globalThis.fetch | undefined;
	/**
	Records acknowledged operations and skips those an earlier run recorded; see `BatchJournal`.
	@default none: every operation is sent
	*/
	readonly journal?: BatchJournal | undefined;
	/**
	What a failed operation (a non-2xx answer, or an error) means for the later operations of its
	lanes: `'skip'` them (they may depend on it; they are reported as skipped, never sent), or
	`'continue'` with them. Other lanes go on either way.
	@default 'skip'
	*/
	readonly onFailure?: 'skip' | 'continue' | undefined;
	/**
	Operations submitted and not yet settled, at most: the source is read no further ahead than
	this, which bounds memory. Larger lets more lanes fill the global slots when the input clusters
	many operations of one lane together.
	@default 1000
	*/
	readonly window?: number | undefined;
	/**
	Stops the batch: nothing more is read or started, operations waiting for their lane or a slot are
	dropped (reported as interrupted), those being sent finish, and `runBatch()` resolves with
	`stopped: true`.
	*/
	readonly signal?: AbortSignal | undefined;
	/** Called once per operation read, as it settles. */
	readonly onResult?: ((result: BatchResult) => void) | undefined;
	/**
	The limits the lanes were created with, for the summary's critical-path bound only (runBatch
	does not apply them; the lanes do).
	@default the most operations seen in flight at once, and no rate limit
	*/
	readonly limits?: {readonly concurrency?: number | undefined; readonly rateLimit?: RateLimit | false | undefined} | undefined;
};

/**
- `done`: the server acknowledged it (2xx);
- `failed`: a non-2xx answer, or an error (transport, lane, journal);
- `skipped`: not sent, because an earlier operation of its lane failed (`onFailure: 'skip'`);
- `resumed`: not sent, because the journal has it from an earlier run;
- `interrupted`: not sent, because the batch was stopped.
*/
export type BatchOutcome = 'done' | 'failed' | 'skipped' | 'resumed' | 'interrupted';

/** What became of one operation. */
export type BatchResult = {
	/** Position in the input, from 0. */
	readonly index: number;
	readonly id: string | undefined;
	readonly method: string;
	/** Origin and path, without query or user info. */
	readonly url: string;
	/** The lanes it held (empty when none, or when it was not looked up: resumed, or failed before). */
	readonly keys: readonly string[];
	readonly outcome: BatchOutcome;
	/** The final answer's status, when there was one. */
	readonly status?: number | undefined;
	/** Why it failed, when there was no answer (or the journal failed). */
	readonly error?: unknown;
	/** Attempts sent. */
	readonly attempts: number;
	/** Time from its first attempt to its last answer (and journal flush), in ms. */
	readonly ms: number;
};

/** One row of `BatchSummary.lanes`. */
export type BatchLaneSummary = {
	readonly key: string;
	readonly done: number;
	readonly failed: number;
	readonly skipped: number;
	readonly interrupted: number;
	/** Time its operations spent between first attempt and last answer, summed, in ms. */
	readonly busyMs: number;
};

/** What `runBatch()` resolves with. */
export type BatchSummary = {
	/** Operations read from the source. */
	readonly operations: number;
	readonly done: number;
	readonly failed: number;
	readonly skipped: number;
	readonly resumed: number;
	readonly interrupted: number;
	/** Whether `signal` stopped the batch before the source was exhausted. */
	readonly stopped: boolean;
	/** Attempts sent, retries included. */
	readonly requests: number;
	/** Wall time of the batch, in ms. */
	readonly elapsedMs: number;
	/**
	What no scheduler could beat with the same per-operation times: the busiest lane's busy time
	(its operations run one after another), the total busy time over the concurrency, or the requests
	over the rate limit, whichever is largest.
	*/
	readonly criticalPath: {readonly ms: number; readonly by: 'busiest lane' | 'concurrency' | 'rate limit'};
	/** `criticalPath.ms / elapsedMs`: 1 means the batch ran as fast as its lanes and limits allow. */
	readonly efficiency: number;
	/** Per lane, busiest first. */
	readonly lanes: readonly BatchLaneSummary[];
};

type Source = AsyncIterator<unknown> | Iterator<unknown>;

type Settings = {
	readonly lanes: Lanes;
	readonly baseUrl: URL | undefined;
	readonly headers: Headers | undefined;
	readonly pipeline: Pipeline;
	readonly fetch: Transport;
	readonly journal: BatchJournal | undefined;
	readonly skip: boolean;
	readonly window: number;
	readonly signal: AbortSignal | undefined;
	readonly onResult: ((result: BatchResult) => void) | undefined;
	readonly concurrency: number | undefined;
	readonly rateLimit: RateLimit | undefined;
};

type Entry = {
	readonly operation: PreparedOperation;
	readonly journalEntry: string | undefined;
	readonly keys: readonly string[];
	readonly kind: OperationKind;
	readonly controller: AbortController;
	/** The previous write submitted on each of its keys, until it starts ('skip' policy, writes only). */
	previous: Entry[] | undefined;
	startedAt: number | undefined;
	endedAt: number;
	sending: boolean;
	acked: boolean;
	attempts: number;
	/** Set when the transport declined it, or runBatch aborted it before it started. */
	notSent: 'skipped' | 'interrupted' | undefined;
	journalError: unknown;
};

type MutableLane = {-readonly [K in keyof BatchLaneSummary]: BatchLaneSummary[K]};

const laneOutcomes = new Set<BatchOutcome>(['done', 'failed', 'skipped', 'interrupted']);

function normalize(options: BatchOptions): Settings {
	if (typeof options !== 'object' || options === null) {
		throw invalid('options', 'an object with at least `lanes`', options);
	}

	const {lanes, baseUrl, headers, fetch, journal, onFailure = defaults.batch.onFailure, window = defaults.batch.window, signal, onResult, limits} = options;
	const pipeline = typeof lanes === 'object' && lanes !== null ? pipelines.get(lanes) : undefined;
	if (pipeline === undefined) {
		throw invalid('lanes', 'a lanes instance (from `createLanes()`)', lanes);
	}

	let base: URL | undefined;
	if (baseUrl !== undefined) {
		base = typeof baseUrl === 'string' && URL.canParse(baseUrl) ? new URL(baseUrl) : baseUrl instanceof URL ? new URL(baseUrl.href) : undefined;
		if (base === undefined || (base.protocol !== 'http:' && base.protocol !== 'https:') || base.username !== '' || base.password !== '') {
			throw invalid('baseUrl', 'an absolute http(s) URL without user name or password', shownUrl(baseUrl));
		}
	}

	if (fetch !== undefined && typeof fetch !== 'function') {
		throw invalid('fetch', 'a fetch function', fetch);
	}

	if (journal !== undefined && !isJournal(journal)) {
		throw invalid('journal', 'an object with `has()` and `append()`', journal);
	}

	if (onFailure !== 'skip' && onFailure !== 'continue') {
		throw invalid('onFailure', "`'skip'` or `'continue'`", onFailure);
	}

	if (!Number.isSafeInteger(window) || window < 1) {
		throw invalid('window', 'an integer >= 1', window);
	}

	if (signal !== undefined && !(signal instanceof AbortSignal)) {
		throw invalid('signal', 'an AbortSignal', signal);
	}

	if (onResult !== undefined && typeof onResult !== 'function') {
		throw invalid('onResult', 'a function', onResult);
	}

	const concurrency = limits?.concurrency;
	if (concurrency !== undefined && !(concurrency === Number.POSITIVE_INFINITY || (Number.isSafeInteger(concurrency) && concurrency >= 1))) {
		throw invalid('limits.concurrency', 'an integer >= 1 or Infinity', concurrency);
	}

	const rateLimit = limits?.rateLimit || undefined;
	if (rateLimit !== undefined && !(Number.isSafeInteger(rateLimit.limit) && rateLimit.limit >= 1 && rateLimit.interval > 0)) {
		throw invalid('limits.rateLimit', '`{limit, interval}` with limit >= 1 and interval > 0, or `false`', rateLimit);
	}

	const transport: Transport = fetch ?? ((input, init) => globalThis.fetch(input, init));
	return {
		lanes,
		pipeline,
		baseUrl: base,
		headers: headers === undefined ? undefined : new Headers(headers),
		fetch: transport,
		journal,
		skip: onFailure === 'skip',
		window,
		signal,
		onResult,
		concurrency,
		rateLimit,
	};
}

function where(index: number): string {
	return `operations[${index}].`;
}

/** Arrays are checked whole before anything is sent; other sources are read lazily, one operation at a time. */
function open(operations: unknown, baseUrl: URL | undefined): Source {
	if (Array.isArray(operations)) {
		return operations.map((operation: unknown, index) => prepareOperation(operation, index, baseUrl, where(index))).values();
	}

	if (typeof operations === 'object' && operations !== null) {
		const asyncIterable = (operations as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator];
		if (typeof asyncIterable === 'function') {
			return asyncIterable.call(operations);
		}

		const iterable = (operations as Partial<Iterable<unknown>>)[Symbol.iterator];
		if (typeof iterable === 'function') {
			return iterable.call(operations);
		}
	}

	throw invalid('operations', 'an array, an iterable or an async iterable of operations', operations);
}

/** Why the pipeline refused an operation unsent (the batch reports it by `notSent`, not by this error). */
function notSent(entry: Entry): Error {
	return new Error(`The operation was not sent (${entry.notSent})`);
}

function shown(url: string): string {
	const parsed = new URL(url);
	return `${parsed.origin}${parsed.pathname}`;
}

class Batch {
	readonly #settings: Settings;
	readonly #pending = new Set<Entry>();
	readonly #lastWrite = new Map<string, Entry>();
	readonly #failedKeys = new Set<string>();
	readonly #lanes = new Map<string, MutableLane>();
	readonly #counts = {operations: 0, done: 0, failed: 0, skipped: 0, resumed: 0, interrupted: 0};
	readonly #startedAt = clock.now();
	#requests = 0;
	#inFlight = 0;
	#peakInFlight = 0;
	#workMs = 0;
	#stopping = false;
	#stoppedBySignal = false;
	#fatal: {error: unknown} | undefined;
	#changed: {promise: Promise<void>; resolve: () => void};

	constructor(settings: Settings) {
		this.#settings = settings;
		this.#changed = this.#newChange();
	}

	async run(source: Source, checked: boolean): Promise<BatchSummary> {
		const {signal} = this.#settings;
		const onAbort = () => {
			this.#stoppedBySignal = true;
			this.#stop();
		};

		if (signal?.aborted) {
			onAbort();
		} else {
			signal?.addEventListener('abort', onAbort, {once: true});
		}

		try {
			await this.#read(source, checked);
			while (this.#pending.size > 0) {
				await this.#changed.promise;
			}
		} finally {
			signal?.removeEventListener('abort', onAbort);
		}

		if (this.#fatal) {
			throw this.#fatal.error;
		}

		return this.#summary();
	}

	/** Reads and submits operations until the source ends or the batch stops. */
	async #read(source: Source, checked: boolean): Promise<void> {
		const {window} = this.#settings;
		let reading: Promise<IteratorResult<unknown>> | undefined;
		try {
			for (let index = 0; ; index++) {
				while (this.#pending.size >= window && !this.#stopping) {
					await this.#changed.promise;
				}

				if (this.#stopping) {
					break;
				}

				reading = Promise.resolve(source.next());
				const next = await this.#readOrStop(reading);
				if (next === undefined || next.done) {
					break;
				}

				reading = undefined;
				const operation = checked ? (next.value as PreparedOperation) : prepareOperation(next.value, index, this.#settings.baseUrl, where(index));
				this.#counts.operations++;
				await this.#submit(operation);
			}
		} catch (error) {
			this.#fatal ??= {error};
			this.#stop();
		} finally {
			if (reading === undefined) {
				Promise.resolve(source.return?.()).catch(() => undefined);
			} else {
				// A source still reading (a pipe, a slow generator) is left to finish on its own.
				reading.catch(() => undefined);
			}
		}
	}

	/** `reading`'s result, or `undefined` once the batch stops first. */
	async #readOrStop(reading: Promise<IteratorResult<unknown>>): Promise<IteratorResult<unknown> | undefined> {
		while (!this.#stopping) {
			// Settling operations wake this too: each wake checks whether the batch stopped.
			const next = await Promise.race([reading, this.#changed.promise.then(() => undefined)]);
			if (next !== undefined) {
				return next;
			}
		}

		return undefined;
	}

	async #submit(operation: PreparedOperation): Promise<void> {
		const {journal, lanes, skip} = this.#settings;
		const entryName = journal ? await journalEntry(operation) : undefined;
		if (entryName !== undefined && (await journal!.has(entryName))) {
			this.#report(operation, [], 'resumed');
			return;
		}

		if (this.#stopping) {
			this.#report(operation, [], 'interrupted');
			return;
		}

		const init = requestInit(operation, this.#settings.headers);
		let keys: readonly string[];
		let kind: OperationKind;
		try {
			({keys, kind} = operation.key ? {keys: operation.key, kind: classify(operation.method)} : await lanes.keysOf(operation.url, init));
		} catch (error) {
			this.#report(operation, [], 'failed', {error});
			return;
		}

		if (this.#stopping) {
			this.#report(operation, keys, 'interrupted');
			return;
		}

		if (skip && keys.some(key => this.#failedKeys.has(key))) {
			this.#report(operation, keys, 'skipped');
			return;
		}

		const entry: Entry = {
			operation,
			journalEntry: entryName,
			keys,
			kind,
			controller: new AbortController(),
			previous: undefined,
			startedAt: undefined,
			endedAt: 0,
			sending: false,
			acked: false,
			attempts: 0,
			notSent: undefined,
			journalError: undefined,
		};
		if (skip && kind === 'write') {
			const previous: Entry[] = [];
			for (const key of keys) {
				const last = this.#lastWrite.get(key);
				if (last !== undefined) {
					previous.push(last);
				}

				this.#lastWrite.set(key, entry);
			}

			entry.previous = previous;
		}

		this.#pending.add(entry);
		const {pipeline} = this.#settings;
		pipeline.request(operation.url, {...init, signal: entry.controller.signal}, this.#transport(entry), () => ({keys, kind}), () => this.#decline(entry)).then(
			response => {
				this.#settle(entry, response, undefined);
			},
			(error: unknown) => {
				this.#settle(entry, undefined, error);
			},
		);
	}

	/**
	Asked when `entry` holds its lanes, before anything is sent: an operation whose predecessor on one
	of its keys ended unacknowledged, or that the batch stopped, is refused unsent.
	*/
	#decline(entry: Entry): Error | undefined {
		if (this.#stopping) {
			entry.notSent ??= 'interrupted';
		} else if (entry.previous?.some(previous => !previous.acked)) {
			entry.notSent ??= 'skipped';
		}

		entry.previous = undefined;
		return entry.notSent === undefined ? undefined : notSent(entry);
	}

	/** The transport the pipeline calls for each attempt of `entry`, while it holds its lanes. */
	#transport(entry: Entry): Transport {
		return async (input, init) => {
			if (entry.notSent !== undefined) {
				// Stopped or skipped between the lane's grant and this attempt: its signal has aborted, nothing goes out.
				throw notSent(entry);
			}

			if (entry.startedAt === undefined) {
				entry.startedAt = clock.now();
				entry.endedAt = entry.startedAt;
			}

			entry.sending = true;
			entry.attempts++;
			this.#requests++;
			this.#peakInFlight = Math.max(this.#peakInFlight, ++this.#inFlight);
			try {
				const response = await this.#settings.fetch(input, init);
				// An uncertain-outcome check re-reads with a GET through here: only the operation's own method acknowledges it.
				const method = input instanceof Request ? input.method : (init?.method ?? 'GET');
				if (response.ok && method.toUpperCase() === entry.operation.method && !entry.acked) {
					if (entry.journalEntry !== undefined) {
						try {
							await this.#settings.journal!.append(entry.journalEntry);
						} catch (error) {
							entry.journalError = error;
							this.#fatal ??= {error};
							this.#stop();
							return response;
						}
					}

					entry.acked = true;
				}

				return response;
			} finally {
				this.#inFlight--;
				entry.endedAt = clock.now();
			}
		};
	}

	#settle(entry: Entry, response: Response | undefined, error: unknown): void {
		this.#pending.delete(entry);
		for (const key of entry.keys) {
			if (this.#lastWrite.get(key) === entry) {
				this.#lastWrite.delete(key);
			}
		}

		entry.previous = undefined;
		const {operation, keys} = entry;
		const ms = entry.startedAt === undefined ? 0 : entry.endedAt - entry.startedAt;
		if (entry.notSent !== undefined && response === undefined) {
			// Declined in its lane, or aborted by runBatch while it waited for its lane or a slot.
			this.#report(operation, keys, entry.notSent);
			return;
		}

		response?.body?.cancel().catch(() => undefined);
		if (entry.acked) {
			this.#report(operation, keys, 'done', {status: response?.status, attempts: entry.attempts, ms});
			return;
		}

		this.#report(operation, keys, 'failed', {
			status: response?.status,
			error: entry.journalError ?? error,
			attempts: entry.attempts,
			ms,
		});
		if (this.#settings.skip) {
			this.#skipAfter(entry);
		}
	}

	/** Marks the failed operation's lanes, and drops the later operations on them that have not started. */
	#skipAfter(failed: Entry): void {
		if (failed.keys.length === 0) {
			return;
		}

		for (const key of failed.keys) {
			this.#failedKeys.add(key);
		}

		for (const entry of this.#pending) {
			if (entry.operation.index > failed.operation.index && entry.startedAt === undefined && entry.keys.some(key => this.#failedKeys.has(key))) {
				entry.notSent = 'skipped';
				entry.controller.abort(new Error('An earlier operation of its lane failed'));
			}
		}
	}

	#stop(): void {
		if (this.#stopping) {
			return;
		}

		this.#stopping = true;
		for (const entry of this.#pending) {
			if (entry.startedAt === undefined) {
				entry.notSent ??= 'interrupted';
				entry.controller.abort(new Error('The batch was stopped'));
			}
		}

		this.#notify();
	}

	#report(
		operation: PreparedOperation,
		keys: readonly string[],
		outcome: BatchOutcome,
		details: {status?: number | undefined; error?: unknown; attempts?: number; ms?: number} = {},
	): void {
		const {attempts = 0, ms = 0} = details;
		this.#counts[outcome]++;
		this.#workMs += ms;
		if (laneOutcomes.has(outcome)) {
			for (const key of keys) {
				let lane = this.#lanes.get(key);
				if (lane === undefined) {
					lane = {key, done: 0, failed: 0, skipped: 0, interrupted: 0, busyMs: 0};
					this.#lanes.set(key, lane);
				}

				lane[outcome as 'done']++;
				lane.busyMs += ms;
			}
		}

		const {onResult} = this.#settings;
		if (onResult) {
			const result: BatchResult = {
				index: operation.index,
				id: operation.id,
				method: operation.method,
				url: shown(operation.url),
				keys,
				outcome,
				...(details.status !== undefined && {status: details.status}),
				...(details.error !== undefined && {error: details.error}),
				attempts,
				ms,
			};
			try {
				onResult(result);
			} catch (error) {
				// A broken callback must not wedge the batch; surface it like an unhandled error.
				queueMicrotask(() => {
					throw error;
				});
			}
		}

		this.#notify();
	}

	#newChange(): {promise: Promise<void>; resolve: () => void} {
		let resolve!: () => void;
		const promise = new Promise<void>(resolve_ => {
			resolve = resolve_;
		});
		return {promise, resolve};
	}

	#notify(): void {
		const changed = this.#changed;
		this.#changed = this.#newChange();
		changed.resolve();
	}

	#summary(): BatchSummary {
		const elapsedMs = clock.now() - this.#startedAt;
		const lanes = [...this.#lanes.values()].sort((a, b) => b.busyMs - a.busyMs || (a.key < b.key ? -1 : 1));
		const concurrency = this.#settings.concurrency ?? Math.max(1, this.#peakInFlight);
		const {rateLimit} = this.#settings;
		const candidates: Array<BatchSummary['criticalPath']> = [
			{ms: lanes[0]?.busyMs ?? 0, by: 'busiest lane'},
			{ms: concurrency === Number.POSITIVE_INFINITY ? 0 : this.#workMs / concurrency, by: 'concurrency'},
			{ms: rateLimit && this.#requests > 0 ? Math.floor((this.#requests - 1) / rateLimit.limit) * rateLimit.interval : 0, by: 'rate limit'},
		];
		const criticalPath = candidates.reduce((best, candidate) => (candidate.ms > best.ms ? candidate : best));
		return {
			...this.#counts,
			stopped: this.#stoppedBySignal,
			requests: this.#requests,
			elapsedMs,
			criticalPath,
			efficiency: elapsedMs > 0 ? criticalPath.ms / elapsedMs : 1,
			lanes,
		};
	}
}

/**
Runs a batch of HTTP operations through `lanes`: per lane in input order, across lanes as the lanes'
global limits allow, each with the lanes' retries. By default, once an operation fails, the later
operations of its lanes are skipped (reported, never sent) while other lanes go on. With a journal,
every acknowledged operation is recorded before its lane moves on, and operations recorded by an
earlier run are skipped, so an interrupted batch resumes where it stopped.

`operations` is an array (checked whole before anything is sent), or an iterable or async iterable
(read lazily, at most `window` operations ahead: a file of any size streams through in bounded
memory; an invalid operation there stops the batch like `signal` would and rejects with its
`TypeError` once the operations in flight have settled).

Resolves with the summary once every operation read has settled; rejects with a `TypeError` for
invalid options or an invalid operation, and with the journal's error when recording fails.

@example
```
const summary = await runBatch(operations, {lanes, baseUrl: 'https://api.capacities.io', headers: {authorization: `Bearer ${token}`}});
console.log(summary.done, summary.failed, summary.skipped);
```
*/
export async function runBatch(operations: Iterable<BatchOperation> | AsyncIterable<BatchOperation>, options: BatchOptions): Promise<BatchSummary> {
	const settings = normalize(options);
	const source = open(operations, settings.baseUrl);
	return new Batch(settings).run(source, Array.isArray(operations));
}
