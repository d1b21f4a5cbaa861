import type {Stats} from '../src/index.js';

/*
The specification the model-checked tests (properties, cancellation fuzz) check the engine against,
written from the contract only: two operations conflict when a key of one equals, is above or is
below a key of the other and one of them is a write; in 'parallel' mode reads conflict with nothing.
*/

export type Mode = 'parallel' | 'shared';
export type Kind = 'read' | 'write';

/** What the model knows of an operation. */
export type ModelOp = {
	readonly kind: Kind;
	readonly keys: readonly string[];
};

/** Whether two keys are the same node of the key tree or one is an ancestor of the other. */
export const related = (a: string, b: string): boolean => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

export function conflicts(mode: Mode, x: ModelOp, y: ModelOp): boolean {
	if (x.kind === 'read' && y.kind === 'read') {
		return false;
	}

	if (mode === 'parallel' && (x.kind === 'read' || y.kind === 'read')) {
		return false;
	}

	return x.keys.some(a => y.keys.some(b => related(a, b)));
}

/** The parts of `stats()` the model predicts exactly (waiting times are the clock's). */
export type LaneCounts = {
	readonly queued: number;
	readonly active: number;
	readonly lanes: ReadonlyArray<{readonly key: string; readonly queued: number; readonly running: number}>;
};

const byKey = (x: {key: string}, y: {key: string}) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0);

/** What `stats()` must report for these queued and active (running) operations, lanes sorted by key. */
export function expectedCounts(queued: Iterable<{readonly keys: readonly string[]}>, active: Iterable<{readonly keys: readonly string[]}>): LaneCounts {
	const rows = new Map<string, {key: string; queued: number; running: number}>();
	const row = (key: string) => {
		let entry = rows.get(key);
		if (entry === undefined) {
			entry = {key, queued: 0, running: 0};
			rows.set(key, entry);
		}

		return entry;
	};

	let queuedCount = 0;
	let activeCount = 0;
	for (const op of queued) {
		queuedCount++;
		for (const key of op.keys) {
			row(key).queued++;
		}
	}

	for (const op of active) {
		activeCount++;
		for (const key of op.keys) {
			row(key).running++;
		}
	}

	return {queued: queuedCount, active: activeCount, lanes: [...rows.values()].sort(byKey)};
}

/** The same projection of what `stats()` reports. */
export function observedCounts(stats: Stats): LaneCounts {
	return {queued: stats.queued, active: stats.active, lanes: stats.lanes.map(({key, queued, running}) => ({key, queued, running})).sort(byKey)};
}
