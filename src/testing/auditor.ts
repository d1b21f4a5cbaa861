import type {LwwLogEntry, LwwReport, LwwRequestKind, LwwWrite} from './types.js';

/** A request the auditor is watching; finished exactly once. */
export type AuditRecord = {
	readonly method: string;
	readonly path: string;
	readonly start: number;
	kind: LwwRequestKind;
	objectId: string | undefined;
	/** Counted among the in-flight writes of `objectId`. */
	tracked: boolean;
	finished: boolean;
};

/**
Counts requests and watches writes per object tree. A write is in flight from the moment it is
accepted (it has read the stored object) until its answer is about to be sent or its socket is
destroyed, so a client that sends its next write after the previous answer never overlaps.
*/
export class Auditor {
	readonly #origin = performance.now();
	readonly #inFlight = new Map<string, number>();
	#requests: Record<string, number> = {};
	#total = 0;
	#overlaps = 0;
	#conflicts = 0;
	#faults: Record<string, number> = {};
	#overlapsByObject: Record<string, number> = {};
	#maxInFlightByObject: Record<string, number> = {};
	#writes: Record<string, LwwWrite[]> = {};
	#log: LwwLogEntry[] = [];

	/** Milliseconds since the server started, on the monotonic clock. */
	now(): number {
		return performance.now() - this.#origin;
	}

	arrive(method: string, path: string): AuditRecord {
		this.#requests[method] = (this.#requests[method] ?? 0) + 1;
		this.#total++;
		return {method, path, start: this.now(), kind: 'read', objectId: undefined, tracked: false, finished: false};
	}

	/** The request was accepted: a write of an object tree now counts as in flight. */
	accept(record: AuditRecord): void {
		const id = record.objectId;
		if (record.kind !== 'write' || id === undefined || record.tracked) {
			return;
		}

		const running = this.#inFlight.get(id) ?? 0;
		if (running > 0) {
			this.#overlaps++;
			this.#overlapsByObject[id] = (this.#overlapsByObject[id] ?? 0) + 1;
		}

		this.#inFlight.set(id, running + 1);
		this.#maxInFlightByObject[id] = Math.max(this.#maxInFlightByObject[id] ?? 0, running + 1);
		record.tracked = true;
	}

	/** A write was refused for a stale precondition. */
	conflict(): void {
		this.#conflicts++;
	}

	/** A fault was injected into a request. */
	fault(name: string): void {
		this.#faults[name] = (this.#faults[name] ?? 0) + 1;
	}

	finish(record: AuditRecord, status: number): void {
		if (record.finished) {
			return;
		}

		record.finished = true;
		const end = this.now();
		const {method, path, start, kind, objectId} = record;
		this.#log.push(objectId === undefined ? {method, path, kind, start, end, status} : {method, path, objectId, kind, start, end, status});
		if (!record.tracked || objectId === undefined) {
			return;
		}

		const running = (this.#inFlight.get(objectId) ?? 1) - 1;
		if (running === 0) {
			this.#inFlight.delete(objectId);
		} else {
			this.#inFlight.set(objectId, running);
		}

		const writes = this.#writes[objectId] ?? [];
		writes.push({method, path, start, end, status});
		this.#writes[objectId] = writes;
	}

	report(): LwwReport {
		return structuredClone({
			requests: this.#requests,
			total: this.#total,
			overlaps: this.#overlaps,
			overlapsByObject: this.#overlapsByObject,
			conflicts: this.#conflicts,
			faults: this.#faults,
			maxInFlightByObject: this.#maxInFlightByObject,
			writes: this.#writes,
			log: this.#log,
		});
	}

	/** Clears counters and logs; writes in flight stay tracked so later overlaps are still seen. */
	reset(): void {
		this.#requests = {};
		this.#total = 0;
		this.#overlaps = 0;
		this.#conflicts = 0;
		this.#faults = {};
		this.#overlapsByObject = {};
		this.#maxInFlightByObject = {};
		this.#writes = {};
		this.#log = [];
	}
}
