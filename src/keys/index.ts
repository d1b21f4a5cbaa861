export {classify} from './classify.js';
export {compileKeys, defaultRule} from './compile.js';
export {defaultKey, normalizeUrl} from './normalize.js';
export {compilePatterns} from './patterns.js';
export {isJsonContentType, toLaneRequest} from './request.js';
export type {
	CompiledKeys,
	KeyDecision,
	KeyPattern,
	KeyRule,
	KeysOption,
	LaneKeys,
	LaneRequest,
	OperationKind,
	Preset,
} from './types.js';
