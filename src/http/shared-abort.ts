/**
An abort signal shared by several callers: it aborts once every caller that joined has aborted
(with the last caller's reason). A caller without a signal can never abort, so neither can the group.
*/
export class SharedAbort {
	readonly #controller = new AbortController();
	readonly #cleanups: Array<() => void> = [];
	#members = 0;
	#aborted = 0;
	#unabortable = false;

	get signal(): AbortSignal {
		return this.#controller.signal;
	}

	/** Adds a caller; `onAbort` runs when that caller's signal aborts. */
	join(signal: AbortSignal | null | undefined, onAbort: (reason: unknown) => void): void {
		this.#members++;
		if (!signal) {
			this.#unabortable = true;
			return;
		}

		const listener = () => {
			this.#aborted++;
			onAbort(signal.reason);
			if (!this.#unabortable && this.#aborted === this.#members) {
				this.#controller.abort(signal.reason);
			}
		};

		signal.addEventListener('abort', listener, {once: true});
		this.#cleanups.push(() => {
			signal.removeEventListener('abort', listener);
		});
	}

	/** Removes every listener; the group is over. */
	dispose(): void {
		for (const cleanup of this.#cleanups) {
			cleanup();
		}

		this.#cleanups.length = 0;
	}
}
