/**
A `Map` bounded to `limit` entries that drops the least recently used one first. Reads refresh an
entry, so what a script keeps touching stays; memory never exceeds the bound.
*/
export class BoundedMap<K, V> {
	readonly #limit: number;
	readonly #entries = new Map<K, V>();

	constructor(limit: number) {
		this.#limit = limit;
	}

	get size(): number {
		return this.#entries.size;
	}

	get(key: K): V | undefined {
		const value = this.#entries.get(key);
		if (value !== undefined) {
			// Re-insertion moves the entry to the young end of the Map's insertion order.
			this.#entries.delete(key);
			this.#entries.set(key, value);
		}

		return value;
	}

	set(key: K, value: V): void {
		this.#entries.delete(key);
		this.#entries.set(key, value);
		if (this.#entries.size > this.#limit) {
			const oldest = this.#entries.keys().next();
			if (!oldest.done) {
				this.#entries.delete(oldest.value);
			}
		}
	}
}
