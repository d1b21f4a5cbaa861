export {capacities, type CapacitiesOptions} from './capacities.js';
export {etag, type EtagOptions} from './etag.js';
export {kubernetes, type KubernetesOptions} from './kubernetes.js';
export {notion, type NotionOptions} from './notion.js';
export {rekord, type RekordOptions} from './rekord.js';
export {square, type SquareOptions} from './square.js';
