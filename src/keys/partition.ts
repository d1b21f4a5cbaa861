import {invalid} from '../errors/describe.js';
import {canonicalKey} from './key.js';

/** Each call scores every worker, so the count stays in the range where that is cheap. */
const maxWorkers = 65_536;

/** murmur3's 32-bit finalizer: every input bit flips each output bit with probability about 1/2. */
function mix(value: number): number {
	let h = value;
	h = Math.imul(h ^ (h >>> 16), 0x85_eb_ca_6b);
	h = Math.imul(h ^ (h >>> 13), 0xc2_b2_ae_35);
	return (h ^ (h >>> 16)) >>> 0;
}

/**
The worker (from `0` to `workers - 1`) that owns lane `key`, by rendezvous (highest random weight)
hashing: each worker gets a pseudo-random score for the key and the highest score wins.

- **Stable:** the answer depends only on the canonical key and `workers`, in every process, machine,
  runtime and version of this package (the mapping is part of the public contract).
- **Balanced:** keys spread evenly over the workers.
- **Minimal movement:** going from `n` to `n + 1` workers moves only the keys the new worker `n`
  wins (about `1/(n + 1)` of them); going back moves only those keys again. Worker numbers are
  identities: to retire a worker other than the last, renumber deliberately (its keys and some of
  the last worker's move).

Use it to shard resources over workers instead of locking them: when every key has exactly one
writer, the lanes of one process are all the coordination there is. The key is canonicalized like
a lane key, so `'/objects//9f2c/'` and `'objects/9f2c'` land on the same worker.

@example
```
import {partitionOf} from 'writelane';

const mine = jobs.filter(job => partitionOf(job.objectId, workerCount) === workerIndex);
```
*/
export function partitionOf(key: string, workers: number): number {
	const lane = canonicalKey(key, 'key');
	if (!Number.isInteger(workers) || workers < 1 || workers > maxWorkers) {
		throw invalid('workers', `an integer from 1 to ${maxWorkers}`, workers);
	}

	// Two independent 32-bit hashes of the key's UTF-16 code units (no encoder: same bits everywhere).
	let a = 0x2f_6b_1d_a3;
	let b = 0x71_c4_98_e5;
	for (let index = 0; index < lane.length; index++) {
		const unit = lane.charCodeAt(index);
		a = Math.imul(a ^ unit, 0x01_00_01_93);
		b = Math.imul((b ^ unit) + 0x9e_37, 0x5b_d1_e9_95);
	}

	a = mix(a ^ lane.length);
	b = mix(b ^ a);

	let best = 0;
	let bestScore = -1;
	for (let worker = 0; worker < workers; worker++) {
		const score = mix(a ^ mix(Math.imul(worker + 1, 0x9e_37_79_b1) ^ b));
		// Strictly greater: a tie goes to the lower worker number, the same in every process.
		if (score > bestScore) {
			best = worker;
			bestScore = score;
		}
	}

	return best;
}
