import type {Transport} from '../http/outgoing.js';
import type {Pipeline, Resolve} from '../http/pipeline.js';

/**
A fetch-compatible function whose requests run in their lanes (decided by `resolve`, else the
`keys` rule): writes to one resource one after another in call order, reads per the `reads` mode,
each with its retries inside the lane. The `Response` is the one `transport` returned (or, for a
revalidated cache hit, the cached one); the lane is released when its headers arrive.
*/
export function createLaneFetch(pipeline: Pipeline, transport: Transport, resolve?: Resolve): typeof globalThis.fetch {
	return function laneFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
		return pipeline.request(input, init, transport, resolve);
	};
}
