import {teach} from '../src/http/learn.js';
import {createLanes, type LaneContext, type Lanes, type LaneRequest, type OperationOptions, type Preset} from '../src/index.js';

export type Deferred<T = void> = {
	readonly promise: Promise<T>;
	resolve(value: T): void;
	reject(reason: unknown): void;
};

export function deferred<T = void>(): Deferred<T> {
	let resolve!: (value: T) => void;
	let reject!: (reason: unknown) => void;
	const promise = new Promise<T>((resolve_, reject_) => {
		resolve = resolve_;
		reject = reject_;
	});
	return {promise, resolve, reject};
}

// Captured before any test installs fake timers, so `flush()` works under them too.
const realSetImmediate = globalThis.setImmediate;

/** Resolves once every pending promise callback has run (a macrotask turn, no clock involved). */
export async function flush(): Promise<void> {
	await new Promise<void>(resolve => {
		realSetImmediate(resolve);
	});
}

/** How a promise ended, without an unhandled rejection in between. */
export type Outcome = {readonly status: 'pending'} | {readonly status: 'fulfilled'; readonly value: unknown} | {readonly status: 'rejected'; readonly reason: unknown};

/** Tracks a promise's outcome synchronously readable after a `flush()`. */
export function track(promise: Promise<unknown>): {readonly outcome: Outcome} {
	const tracked: {outcome: Outcome} = {outcome: {status: 'pending'}};
	promise.then(
		value => {
			tracked.outcome = {status: 'fulfilled', value};
		},
		(reason: unknown) => {
			tracked.outcome = {status: 'rejected', reason};
		},
	);
	return tracked;
}

/**
Tasks that log `start:<name>` when called and `end:<name>` when they settle, held open until the test
calls `finish(name)` or `fail(name)`. Also records the context each task received and the most tasks
that overlapped per key.
*/
export function recorder() {
	const log: string[] = [];
	const gates = new Map<string, Deferred<unknown>>();
	const contexts = new Map<string, LaneContext>();
	const running = new Set<string>();

	const gate = (name: string): Deferred<unknown> => {
		let entry = gates.get(name);
		if (entry === undefined) {
			entry = deferred<unknown>();
			gates.set(name, entry);
		}

		return entry;
	};

	return {
		log,
		contexts,
		running,
		/** An async task that returns `name` (or what `finish` passes) once released. */
		task(name: string) {
			const entry = gate(name);
			return async (context: LaneContext): Promise<unknown> => {
				log.push(`start:${name}`);
				contexts.set(name, context);
				running.add(name);
				try {
					return await entry.promise;
				} finally {
					running.delete(name);
					log.push(`end:${name}`);
				}
			};
		},
		/** A synchronous task: logs start and end and returns `name` at once. */
		syncTask(name: string) {
			return (context: LaneContext): string => {
				log.push(`start:${name}`, `end:${name}`);
				contexts.set(name, context);
				return name;
			};
		},
		/** A task that throws synchronously. */
		throwingTask(name: string, error: unknown) {
			return (context: LaneContext): never => {
				log.push(`start:${name}`, `end:${name}`);
				contexts.set(name, context);
				throw error;
			};
		},
		finish(name: string, value: unknown = name): void {
			gate(name).resolve(value);
		},
		fail(name: string, error: unknown): void {
			gate(name).reject(error);
		},
		/** Only the `start:` entries, in order, without the prefix. */
		starts(): string[] {
			return log.filter(entry => entry.startsWith('start:')).map(entry => entry.slice('start:'.length));
		},
	};
}

export type Recorder = ReturnType<typeof recorder>;

/**
The engine has two paths for a write: plain writes (no signal, no queueTimeout, no listener) join a
segment, everything else is a graph operation. Every ordering guarantee must hold on both.
*/
export const writePaths: Array<[name: string, setup: () => {lanes: Lanes; options: OperationOptions | undefined}]> = [
	['plain writes', () => ({lanes: createLanes(), options: undefined})],
	['writes with a signal', () => ({lanes: createLanes(), options: {signal: new AbortController().signal}})],
	[
		'writes with an event listener registered',
		() => {
			const lanes = createLanes();
			lanes.on('*', () => undefined);
			return {lanes, options: undefined};
		},
	],
	['writes with queueTimeout set', () => ({lanes: createLanes({queueTimeout: 3_600_000}), options: undefined})],
];

/**
What a caller of the pipeline sees: `response` arrives with the preset's learning hooked in, and the
caller reads it with `json()` (a body that is not JSON, or already read, teaches nothing).
*/
export async function readThrough(preset: Preset | undefined, request: LaneRequest, response: Response): Promise<void> {
	if (preset?.learn) {
		teach(preset.learn, request, response);
	}

	await response.json().catch(() => undefined);
}
