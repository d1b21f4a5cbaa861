import type {LwwBlock, LwwObject, LwwServer} from '../src/testing/index.js';

// Server-side checks of the workload in test/runtimes/workload.ts, shared by the runtime tests.

function stored(server: LwwServer, id: string): LwwObject {
	const object = server.object(id);
	if (!object) {
		throw new Error(`object ${id} is not stored`);
	}

	return object;
}

function counterOf(object: LwwObject): number {
	return object.properties.counter?.number as number;
}

/** The `seq-n` texts among the object's top-level blocks, in stored order. */
function sequence(object: LwwObject): string[] {
	return Object.values(object.blocks)
		.flat()
		.map((block: LwwBlock) => ((block.tokens ?? []) as Array<{text: string}>).map(token => token.text).join(''))
		.filter(text => text.startsWith('seq-'));
}

/** Each object's `counter` now, in `server.objectIds` order. */
export function counters(server: LwwServer): number[] {
	return server.objectIds.map(id => counterOf(stored(server, id)));
}

export type Audit = {
	/** Writes that reached the server while another write of the same object was in flight. */
	readonly overlaps: number;
	/** Increments missing from the counters. */
	readonly lost: number;
	/** Objects whose `seq-n` blocks are not `seq-1` … `seq-n` in order (or miss some). */
	readonly outOfOrder: number;
};

/** What the workload left on the server, given the counters before it ran. */
export function audit(server: LwwServer, before: readonly number[], plan: {readonly appends: number; readonly increments: number}): Audit {
	const inOrder = Array.from({length: plan.appends}, (_, index) => `seq-${index + 1}`).join();
	const after = counters(server);
	return {
		overlaps: server.report().overlaps,
		lost: after.reduce((sum, counter, index) => sum + (before[index] ?? 0) + plan.increments - counter, 0),
		outOfOrder: server.objectIds.filter(id => sequence(stored(server, id)).join() !== inOrder).length,
	};
}
