import type {KyInstanceLike} from './adapters/ky.js';
import type {Lanes} from './lanes.js';

export type {KyInstanceLike} from './adapters/ky.js';

/**
`writelane/ky`: the same as `lanes.wrapKy(ky)`, for code that prefers a function import next to
`import ky from 'ky'`. The package itself never imports ky.
*/
export function wrapKy<K extends KyInstanceLike>(lanes: Lanes, ky: K): K {
	return lanes.wrapKy(ky);
}
