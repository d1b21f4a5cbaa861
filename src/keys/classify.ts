import {invalid} from '../errors/describe.js';
import type {OperationKind} from './types.js';

/**
Whether a request method only reads: the safe methods of RFC 9110 (GET, HEAD, OPTIONS, TRACE), in
any case, are reads; everything else, unknown methods included, is a write, because treating an
unknown mutation as a read would let it overlap other writes.
*/
export function classify(method: string): OperationKind {
	switch (method) {
		case 'GET':
		case 'HEAD':
		case 'OPTIONS':
		case 'TRACE': {
			return 'read';
		}

		case 'POST':
		case 'PUT':
		case 'PATCH':
		case 'DELETE': {
			return 'write';
		}

		default: {
			if (typeof method !== 'string') {
				throw invalid('method', 'a string', method);
			}

			const upper = method.toUpperCase();
			return upper === 'GET' || upper === 'HEAD' || upper === 'OPTIONS' || upper === 'TRACE' ? 'read' : 'write';
		}
	}
}
