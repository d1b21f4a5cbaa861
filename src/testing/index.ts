export {startLwwServer, type LwwServer} from './server.js';
export type {LwwMode, LwwServerOptions, RateLimitOptions} from './options.js';
export type {FaultKind, FaultName, FaultRequest, FaultsOption} from './faults.js';
export type {
	LwwBlock,
	LwwBlockInit,
	LwwLogEntry,
	LwwObject,
	LwwObjectInit,
	LwwPropertyValue,
	LwwReport,
	LwwRequestKind,
	LwwWrite,
} from './types.js';
