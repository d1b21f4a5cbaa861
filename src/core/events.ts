import type {OperationKind} from './types.js';

/** Method and URL of an HTTP operation, with the query string and any credentials removed. */
export type RequestSummary = {readonly method: string; readonly url: string};

type Base = {
	/** Operation id, unique per lanes instance, increasing in submission order. */
	readonly id: number;
	readonly keys: readonly string[];
	readonly kind: OperationKind;
	readonly request?: RequestSummary | undefined;
};

/** Everything a lanes instance reports. Events never carry headers, bodies or query strings. */
export type LaneEvent =
	| (Base & {readonly type: 'enqueue'; readonly queued: number})
	| (Base & {readonly type: 'start'; readonly waitMs: number})
	| (Base & {
			readonly type: 'retry';
			/** The attempt that failed (1 = the first). */
			readonly attempt: number;
			readonly delayMs: number;
			readonly status?: number | undefined;
			readonly error?: unknown;
	  })
	| (Base & {readonly type: 'done'; readonly heldMs: number})
	| (Base & {
			readonly type: 'error';
			/**
			`'queued'`: it never ran (aborted, timed out, closed); `'running'`: it ran and failed; `'lease'`:
			a distributed backend lost its lease while it ran (its signal aborts now; it fails once it returns).
			*/
			readonly phase: 'queued' | 'running' | 'lease';
			readonly error: unknown;
	  })
	| {readonly type: 'idle'; /** The lane that drained, or `undefined` when everything did. */ readonly key: string | undefined};

export type LaneEventType = LaneEvent['type'];
export type LaneEventOf<T extends LaneEventType> = Extract<LaneEvent, {type: T}>;
export type LaneEventHandler<T extends LaneEventType | '*'> = (event: T extends LaneEventType ? LaneEventOf<T> : LaneEvent) => void;

/** A small synchronous emitter; a throwing handler is reported, never allowed to break a lane. */
export class Emitter {
	#handlers = new Map<string, Set<(event: LaneEvent) => void>>();
	/** Fast check for the hot path: any handler at all. */
	active = false;

	on(type: string, handler: (event: LaneEvent) => void): () => void {
		let set = this.#handlers.get(type);
		if (!set) {
			set = new Set();
			this.#handlers.set(type, set);
		}

		set.add(handler);
		this.active = true;
		return () => {
			this.off(type, handler);
		};
	}

	off(type: string, handler: (event: LaneEvent) => void): void {
		const set = this.#handlers.get(type);
		if (set?.delete(handler) && set.size === 0) {
			this.#handlers.delete(type);
			this.active = this.#handlers.size > 0;
		}
	}

	emit(event: LaneEvent): void {
		this.#call(this.#handlers.get(event.type), event);
		this.#call(this.#handlers.get('*'), event);
	}

	#call(set: Set<(event: LaneEvent) => void> | undefined, event: LaneEvent): void {
		if (!set) {
			return;
		}

		for (const handler of set) {
			try {
				handler(event);
			} catch (error) {
				// A broken listener must not wedge a lane; surface it like an unhandled error would be.
				queueMicrotask(() => {
					throw error;
				});
			}
		}
	}
}
