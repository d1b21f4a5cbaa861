import {urlPart} from '../keys/request.js';
import type {LaneRequest} from '../keys/types.js';

/**
What makes two GETs "the same request" for caching and coalescing: the normalized URL with its query,
and the headers that change what a server answers for whom. The string stays in memory only; it is
never logged, reported or put in an error.
*/
export function requestIdentity(request: LaneRequest): string {
	const {headers} = request;
	return [urlPart(request, 'href'), headers.get('authorization'), headers.get('cookie'), headers.get('accept'), headers.get('accept-language')].join('\n');
}
