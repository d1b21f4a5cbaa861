import type {Outgoing} from './outgoing.js';
import {BoundedMap} from '../keys/lru.js';

/** Options of the conditional-GET cache (`createLanes({cache})`). */
export type CacheOptions = {
	/**
	Responses kept, least recently used dropped first.
	@default 500
	*/
	readonly maxEntries?: number;
	/**
	A body larger than this is not kept.
	@default 1_048_576
	*/
	readonly maxBodyBytes?: number;
};

/** `CacheOptions` with the defaults filled in and checked. */
export type CacheSettings = {
	readonly maxEntries: number;
	readonly maxBodyBytes: number;
};

type Entry = {
	readonly etag: string;
	readonly status: number;
	readonly statusText: string;
	readonly headers: [string, string][];
	readonly body: ArrayBuffer;
};

/**
Remembers GET responses that carried an `ETag`, revalidates them with `If-None-Match` and answers a
`304 Not Modified` from memory, so a script that re-reads unchanged resources costs the server (and
the rate limit) a 304 instead of a full body. Bounded in entries and in body size; per instance.
*/
export class EtagCache {
	readonly #entries: BoundedMap<string, Entry>;
	readonly #maxBodyBytes: number;

	/** `settings` are checked and complete: `normalizeCache()` (options.ts) makes them from `CacheOptions`. */
	constructor(settings: CacheSettings) {
		this.#entries = new BoundedMap(settings.maxEntries);
		this.#maxBodyBytes = settings.maxBodyBytes;
	}

	/** The request to send: with `If-None-Match` when a validator is cached and the caller set none. */
	prepare(identity: string, request: Outgoing): Outgoing {
		const entry = this.#entries.get(identity);
		if (entry === undefined || request.headers.has('if-none-match')) {
			return request;
		}

		return request.with({headers: {'if-none-match': entry.etag}});
	}

	/** The response for the caller: a 304 we asked for becomes the cached 200; a fresh 200 with an ETag is stored. */
	async settle(identity: string, sent: Outgoing, response: Response): Promise<Response> {
		if (response.status === 304) {
			const entry = this.#entries.get(identity);
			if (entry && sent.headers.get('if-none-match') === entry.etag) {
				response.body?.cancel().catch(() => undefined);
				return new Response(entry.body.slice(0), {status: entry.status, statusText: entry.statusText, headers: entry.headers});
			}

			return response;
		}

		const etag = response.headers.get('etag');
		if (response.status !== 200 || etag === null || this.#tooLarge(response)) {
			return response;
		}

		const body = await response.clone().arrayBuffer();
		if (body.byteLength <= this.#maxBodyBytes) {
			this.#entries.set(identity, {etag, status: response.status, statusText: response.statusText, headers: [...response.headers], body});
		}

		return response;
	}

	get size(): number {
		return this.#entries.size;
	}

	#tooLarge(response: Response): boolean {
		const length = Number(response.headers.get('content-length'));
		return Number.isFinite(length) && length > this.#maxBodyBytes;
	}
}
