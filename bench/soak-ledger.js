// The soak's client-side ledger: what each operation was and how it ended, in typed arrays sized
// once at the start, so keeping it does not grow the heap the soak measures.
//
// Rule: a write counts as acknowledged only when it resolved with a 2xx. Any other ending (a non-2xx
// answer, a rejection) is unknown: the write may or may not have been applied, and the check never
// asserts it either way, except that it must not overwrite an acknowledged write that came after it
// in lane order. Lane order is call order: operation numbers are taken at the call.

export const READ = 0;
export const WRITE = 1;
export const UPDATE = 2;
export const APPEND = 3;
export const kindNames = ['read', 'write', 'update()', 'append'];

const PENDING = 0;
export const ACKED = 1;
export const ANSWERED = 2;
export const REJECTED = 3;

/** The number of the operation that wrote a value or appended a block (`op17` → 17). */
export function opNumber(text) {
	const match = typeof text === 'string' ? /^op(\d+)$/.exec(text) : null;
	return match ? Number(match[1]) : undefined;
}

export const marker = (n) => `op${n}`;

function textOf(block) {
	return (Array.isArray(block?.tokens) ? block.tokens : []).map((token) => token?.text ?? '').join('');
}

export class Ledger {
	#names = ['', '2xx'];

	/** `properties`: how many properties (`w0`, `w1` …) the plain writes spread over. */
	constructor(operations, resources, properties) {
		if (resources > 0xff_ff || properties > 0xff) {
			throw new RangeError(`The ledger holds at most 65535 resources and 255 properties, got ${resources} and ${properties}`);
		}
		this.operations = operations;
		this.resources = resources;
		this.properties = properties;
		this.kind = new Uint8Array(operations);
		this.resource = new Uint16Array(operations);
		this.property = new Uint8Array(operations);
		this.outcome = new Uint8Array(operations);
		this.reason = new Uint8Array(operations);
		this.byReason = new Map();
	}

	plan(n, kind, resource, property = 0) {
		this.kind[n] = kind;
		this.resource[n] = resource;
		this.property[n] = property;
	}

	/** `reason`: `'2xx'`, the status of another answer (`'503'`), or the rejection's name. */
	settle(n, outcome, reason) {
		if (this.outcome[n] !== PENDING) {
			throw new Error(`operation ${n} settled twice`);
		}
		this.outcome[n] = outcome;
		let index = this.#names.indexOf(reason);
		if (index === -1 && this.#names.length < 255) {
			index = this.#names.push(reason) - 1;
		}
		this.reason[n] = Math.max(0, index);
		const key = `${kindNames[this.kind[n]]}\t${reason}`;
		this.byReason.set(key, (this.byReason.get(key) ?? 0) + 1);
	}

	describe(n) {
		const outcome = ['pending', 'acknowledged', 'answered', 'rejected'][this.outcome[n]];
		return `op${n} (${kindNames[this.kind[n]]}, ${outcome}${this.reason[n] > 1 ? `: ${this.#names[this.reason[n]]}` : ''})`;
	}

	/**
	 * Compares the ledger with the server's final objects (`ids[r]` is resource r). Returns the
	 * counts of each kind of violation, how much was checked, and a few examples.
	 */
	check(ids, objects) {
		const {operations, resources, properties} = this;
		const lastAck = new Int32Array(resources * properties).fill(-1);
		const ackedUpdates = new Uint32Array(resources);
		const unknownUpdates = new Uint32Array(resources);
		const ackedAppends = Array.from({length: resources}, () => []);
		const result = {
			unsettled: 0,
			acknowledged: {write: 0, update: 0, append: 0},
			lostWrites: 0,
			lostIncrements: 0,
			extraIncrements: 0,
			lostAppends: 0,
			appendsOutOfOrder: 0,
			appliedTwice: 0,
			examples: [],
		};
		const example = (text) => {
			if (result.examples.length < 10) {
				result.examples.push(text);
			}
		};

		for (let n = 0; n < operations; n++) {
			const r = this.resource[n];
			const acked = this.outcome[n] === ACKED;
			if (this.outcome[n] === PENDING) {
				result.unsettled++;
			}
			switch (this.kind[n]) {
				case WRITE: {
					if (acked) {
						lastAck[r * properties + this.property[n]] = n;
						result.acknowledged.write++;
					}
					break;
				}
				case UPDATE: {
					if (acked) {
						ackedUpdates[r]++;
						result.acknowledged.update++;
					} else {
						unknownUpdates[r]++;
					}
					break;
				}
				case APPEND: {
					if (acked) {
						ackedAppends[r].push(n);
						result.acknowledged.append++;
					}
					break;
				}
			}
		}

		for (let r = 0; r < resources; r++) {
			const object = objects[ids[r]];
			const id = ids[r];
			for (let p = 0; p < properties; p++) {
				const last = lastAck[r * properties + p];
				const found = opNumber(object?.properties?.[`w${p}`]?.text);
				if (last === -1 || found === last) {
					continue;
				}
				// Only an unknown write to the same property, later in lane order, may have replaced it.
				const later =
					found !== undefined &&
					found > last &&
					found < operations &&
					this.kind[found] === WRITE &&
					this.resource[found] === r &&
					this.property[found] === p &&
					this.outcome[found] !== ACKED;
				if (!later) {
					result.lostWrites++;
					example(
						`object ${id} w${p}: last acknowledged ${this.describe(last)}, stored ${found === undefined ? 'nothing' : this.describe(found)}`,
					);
				}
			}

			const counter = object?.properties?.counter?.number;
			const low = ackedUpdates[r];
			const high = low + unknownUpdates[r];
			if (typeof counter !== 'number' || counter < low) {
				result.lostIncrements += low - (typeof counter === 'number' ? counter : 0);
				example(`object ${id} counter: ${counter}, but ${low} update()s were acknowledged`);
			} else if (counter > high) {
				result.extraIncrements += counter - high;
				example(`object ${id} counter: ${counter}, but only ${high} update()s were made`);
			}

			const positions = new Map();
			for (const [index, block] of (object?.blocks?.content ?? []).entries()) {
				const n = opNumber(textOf(block));
				if (n === undefined) {
					continue;
				}
				if (positions.has(n)) {
					result.appliedTwice++;
					example(`object ${id}: block of ${this.describe(n)} appears twice`);
				}
				positions.set(n, index);
			}
			let previous = -1;
			for (const n of ackedAppends[r]) {
				const index = positions.get(n);
				if (index === undefined) {
					result.lostAppends++;
					example(`object ${id}: acknowledged block of ${this.describe(n)} is missing`);
				} else if (index < previous) {
					result.appendsOutOfOrder++;
					example(`object ${id}: block of ${this.describe(n)} stands before an earlier acknowledged one`);
				} else {
					previous = index;
				}
			}
		}

		return result;
	}
}
