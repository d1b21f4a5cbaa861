import {SharedAbort} from './shared-abort.js';

type Waiter = {resolve: (response: Response) => void; reject: (reason: unknown) => void};

type Flight = {
	readonly waiters: Waiter[];
	readonly abort: SharedAbort;
};

/**
Single-flight for GETs: identical requests in flight at the same time share one request. Every caller
gets its own readable `Response` (clones made before anyone reads); a caller that aborts only leaves
the group, and the shared request is aborted only when every caller has.
*/
export class Coalescer {
	readonly #flights = new Map<string, Flight>();

	/** `send(signal)` sends the shared request with a signal that aborts once every caller aborted. */
	run(identity: string, signal: AbortSignal | null, send: (signal: AbortSignal) => Promise<Response>): Promise<Response> {
		if (signal?.aborted) {
			return Promise.reject(signal.reason);
		}

		let flight = this.#flights.get(identity);
		const leader = flight === undefined;
		if (flight === undefined) {
			flight = {waiters: [], abort: new SharedAbort()};
			this.#flights.set(identity, flight);
		}

		const current = flight;
		const promise = new Promise<Response>((resolve, reject) => {
			const waiter: Waiter = {resolve, reject};
			current.waiters.push(waiter);
			current.abort.join(signal, reason => {
				const index = current.waiters.indexOf(waiter);
				if (index !== -1) {
					current.waiters.splice(index, 1);
				}

				reject(reason);
			});
		});

		if (leader) {
			send(current.abort.signal).then(
				response => {
					this.#done(identity, current);
					const {waiters} = current;
					// The last caller takes the original; the others get clones teed off it first.
					for (let index = 0; index < waiters.length; index++) {
						waiters[index]!.resolve(index === waiters.length - 1 ? response : response.clone());
					}

					if (waiters.length === 0) {
						response.body?.cancel().catch(() => undefined);
					}
				},
				(error: unknown) => {
					this.#done(identity, current);
					for (const waiter of current.waiters) {
						waiter.reject(error);
					}
				},
			);
		}

		return promise;
	}

	get inFlight(): number {
		return this.#flights.size;
	}

	#done(identity: string, flight: Flight): void {
		if (this.#flights.get(identity) === flight) {
			this.#flights.delete(identity);
		}

		flight.abort.dispose();
	}
}
