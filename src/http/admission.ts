type Place = {admit: (() => void) | undefined; settled: boolean};

/**
Keeps call order through asynchronous preparation. The HTTP adapters read a request's body before
they know its lane; one body may take longer to read than a later one. Each call reserves its place
synchronously, when it is made; prepared calls enter their lanes strictly in that order, so a write
issued first is queued first even if a later write was ready sooner.
*/
export class Admission {
	#places: Place[] = [];
	#head = 0;

	/** Whether some call is still being prepared (later calls must queue behind it). */
	get busy(): boolean {
		return this.#head < this.#places.length;
	}

	reserve(): Place {
		const place: Place = {admit: undefined, settled: false};
		this.#places.push(place);
		return place;
	}

	/** The prepared call enters its lane once every earlier call has. */
	admit(place: Place, enter: () => void): void {
		place.admit = enter;
		place.settled = true;
		this.#flush();
	}

	/** The call failed before entering a lane; later calls must not wait for it. */
	release(place: Place): void {
		place.settled = true;
		this.#flush();
	}

	#flush(): void {
		const places = this.#places;
		while (this.#head < places.length && places[this.#head]!.settled) {
			const place = places[this.#head++]!;
			const enter = place.admit;
			place.admit = undefined;
			try {
				enter?.();
			} catch (error) {
				// Every `enter` routes its failures into its caller's promise; should one throw anyway, the calls behind it must still get in.
				queueMicrotask(() => {
					throw error;
				});
			}
		}

		if (this.#head === places.length) {
			this.#places = [];
			this.#head = 0;
		}
	}
}

export type {Place};
