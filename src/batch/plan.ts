import type {RateLimit} from '../core/limiter.js';
import {partitionOf} from '../keys/partition.js';

/** What a batch will do, from its operations' lanes alone (nothing sent). */
export type BatchPlan = {
	readonly operations: number;
	/** Distinct lanes. */
	readonly lanes: number;
	/** Operations that take no lane (only the global limits). */
	readonly laneless: number;
	/** The lane with the most operations (the first in key order on a tie). */
	readonly longestLane: {readonly key: string; readonly operations: number} | undefined;
	/**
	The fewest rounds of requests the batch can take: its longest lane (run one after another), or
	its operations over the concurrency, whichever is more. Times one request's latency, it estimates
	the critical path.
	*/
	readonly rounds: number;
	/** The least time the rate limit allows for the operations, in ms (0 without one). */
	readonly rateMs: number;
};

/** Counts operations per lane as they are added, for `--dry-run` and the progress display. */
export class Planner {
	readonly #perLane = new Map<string, number>();
	#operations = 0;
	#laneless = 0;

	add(keys: readonly string[]): void {
		this.#operations++;
		if (keys.length === 0) {
			this.#laneless++;
		}

		for (const key of keys) {
			this.#perLane.set(key, (this.#perLane.get(key) ?? 0) + 1);
		}
	}

	/** Lane keys seen, with their operation counts. */
	get perLane(): ReadonlyMap<string, number> {
		return this.#perLane;
	}

	plan(limits: {readonly concurrency: number; readonly rateLimit?: RateLimit | undefined}): BatchPlan {
		let longestLane: BatchPlan['longestLane'];
		for (const [key, operations] of this.#perLane) {
			if (longestLane === undefined || operations > longestLane.operations || (operations === longestLane.operations && key < longestLane.key)) {
				longestLane = {key, operations};
			}
		}

		const operations = this.#operations;
		const {concurrency, rateLimit} = limits;
		const byConcurrency = concurrency === Number.POSITIVE_INFINITY ? 0 : Math.ceil(operations / concurrency);
		return {
			operations,
			lanes: this.#perLane.size,
			laneless: this.#laneless,
			longestLane,
			rounds: Math.max(longestLane?.operations ?? 0, byConcurrency, operations > 0 ? 1 : 0),
			rateMs: rateLimit && operations > 0 ? Math.floor((operations - 1) / rateLimit.limit) * rateLimit.interval : 0,
		};
	}
}

/**
The shard (of `shards`) an operation holding `keys` belongs to, by `partitionOf()`. An operation with
no lane belongs to shard 0; one whose lanes land on different shards to none (`undefined`): no
worker could hold all its lanes.
*/
export function shardOf(keys: readonly string[], shards: number): number | undefined {
	if (keys.length === 0) {
		return 0;
	}

	const shard = partitionOf(keys[0]!, shards);
	return keys.every(key => partitionOf(key, shards) === shard) ? shard : undefined;
}

/**
A lane and a lane below it (`objects` and `objects/9f2c`) conflict, so they must be on one shard;
returns the first pair that is not (ancestor first), or `undefined` when the lanes split cleanly.
*/
export function crossShardConflict(lanes: Iterable<string>, shards: number): readonly [string, string] | undefined {
	const shardOfLane = new Map<string, number>();
	for (const key of lanes) {
		shardOfLane.set(key, partitionOf(key, shards));
	}

	for (const [key, shard] of shardOfLane) {
		for (let slash = key.indexOf('/'); slash !== -1; slash = key.indexOf('/', slash + 1)) {
			const ancestor = key.slice(0, slash);
			const other = shardOfLane.get(ancestor);
			if (other !== undefined && other !== shard) {
				return [ancestor, key];
			}
		}
	}

	return undefined;
}
