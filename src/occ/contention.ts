/*
Fair conflict recovery between uncoordinated writers.

Two clients that keep writing one resource with preconditions race every round: both read version
v, both write, the first write-back wins and the other gets a conflict. The loser re-reads and tries
again while the winner, knowing nothing of it, starts its next read-modify-write at once. Whatever
the loser's backoff, its next attempt then lands somewhere in the winner's cycle (read + write) and
loses whenever one of the winner's write-backs falls in its own read-to-write window: about half the
time on equal latencies. A loser that backs off ever longer does worse still (the capture effect of
binary exponential backoff on Ethernet): its delays grow, the winner's do not.

Two things keep the odds even:
- after a conflict the loser waits a random part of one round trip (decorrelated jitter, measured in
  round trips of this very resource, not fixed milliseconds), so it neither falls behind nor retries
  in lockstep with the winner;
- a client that saw a conflict on a resource recently knows it is contended: before each of its next
  read-modify-writes there it leaves a random gap of up to one round trip, which gives a writer in
  recovery a window without a competing write-back.
*/

type Entry = {until: number; roundTripMs: number};

/** At most this many contended resources are remembered; the oldest go first. */
const limit = 1000;

/**
The resources a lanes instance recently saw conflicts on, with the round trip of their last attempt.
Entries expire, and there are at most `limit` of them: memory follows the number of contended
resources, not of resources ever written.
*/
export class Contention {
	readonly #hot = new Map<string, Entry>();

	/** A write to `key` was refused as a conflict after an attempt that took `roundTripMs`. */
	conflict(key: string, roundTripMs: number, now: number): void {
		const rtt = Math.max(1, roundTripMs);
		this.#hot.delete(key);
		// Hot for a while after the last conflict: long enough to cover the other writer's recovery.
		this.#hot.set(key, {until: now + Math.max(1000, 20 * rtt), roundTripMs: rtt});
		if (this.#hot.size > limit) {
			this.#prune(now);
		}
	}

	/**
	The gap to leave before the next read-modify-write of `key`: random, up to one round trip, while
	the key is contended; `0` otherwise.
	*/
	courtesy(key: string, now: number, random: () => number): number {
		const entry = this.#hot.get(key);
		if (entry === undefined) {
			return 0;
		}

		if (entry.until <= now) {
			this.#hot.delete(key);
			return 0;
		}

		return Math.round(random() * entry.roundTripMs);
	}

	get size(): number {
		return this.#hot.size;
	}

	/** Drops the oldest entries (by last conflict) until the map is within `limit` and its oldest entry is live. */
	#prune(now: number): void {
		for (const [key, entry] of this.#hot) {
			if (this.#hot.size <= limit && entry.until > now) {
				break;
			}

			this.#hot.delete(key);
		}
	}
}

/** What `conflictBackoff` is told besides the attempt number. */
export type ConflictBackoffContext = {
	/** How long the attempt that conflicted took, from the start of its read to the conflict answer. */
	readonly roundTripMs: number;
	/** The delay before the attempt that conflicted (`0` before the first). */
	readonly previousDelayMs: number;
};

/**
The default delay after a conflict: decorrelated jitter scaled to the resource's own round trip
(`roundTripMs`, at least 1 ms). The first delay is uniform between 0 and one round trip; each next
one is uniform between half a round trip and 3 × the previous delay in milliseconds (never below
half a round trip), then capped at 4 round trips and at 2 s, and rounded to whole milliseconds. So
a writer in recovery stays in step with the others instead of backing off ever further behind them.
*/
export function defaultConflictBackoff(attempt: number, context: ConflictBackoffContext, random: () => number = Math.random): number {
	const rtt = Math.max(1, context.roundTripMs);
	const cap = Math.min(2000, 4 * rtt);
	if (attempt <= 1 || context.previousDelayMs <= 0) {
		return Math.round(random() * rtt);
	}

	const low = rtt / 2;
	const high = Math.max(low, 3 * context.previousDelayMs);
	return Math.round(Math.min(cap, low + random() * (high - low)));
}
