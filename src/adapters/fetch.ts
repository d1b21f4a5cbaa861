import type {Engine} from '../core/engine.js';
import {toLaneRequest} from '../keys/request.js';
import {type FetchLike, type HttpDeps, send, summarize} from './http.js';

/**
A fetch-compatible function whose requests run in their lanes: writes to one resource one after
another in call order, reads per the `reads` mode, each with its retries inside the lane. The
`Response` is the one `fetchImpl` returned, untouched; the lane is released when its headers arrive.
*/
export function createLaneFetch(engine: Engine, deps: HttpDeps, fetchImpl: FetchLike): typeof globalThis.fetch {
	return async function laneFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
		const request = new Request(input, init);
		const laneRequest = await toLaneRequest(request, deps.keys.readsBody);
		const {keys, kind} = deps.keys.resolve(laneRequest);
		const summary = summarize(request);
		return engine.run(
			keys,
			kind,
			context => send(deps, fetchImpl, request, {context, summary, laneRequest}),
			{signal: request.signal},
			summary,
		);
	};
}
