export {createLanes, type CloseOptions, type Lanes, type RequestLanes, type WrapFetchOptions} from './lanes.js';
export {memoryBackend, type MemoryBackend, type MemoryBackendOptions} from './backends/memory.js';
export {
	type BatchJournal,
	type BatchLaneSummary,
	type BatchOperation,
	type BatchOptions,
	type BatchOutcome,
	type BatchResult,
	type BatchSummary,
	runBatch,
} from './batch/index.js';
export type {AcquireOptions, Lease, LockBackend} from './core/backend.js';
export type {LaneContext, LaneStats, OperationOptions, Stats} from './core/engine.js';
export type {LaneEvent, LaneEventHandler, LaneEventType, RequestSummary} from './core/events.js';
export type {RateLimit} from './core/limiter.js';
export type {LanesOptions} from './options.js';
export type {CacheOptions} from './http/etag-cache.js';
export {isSuperseded} from './http/supersede.js';
export type {UncertainOptions} from './occ/uncertain.js';
export type {Versioning} from './keys/types.js';
export type {RetryOptions} from './http/retry.js';
export type {KyInstanceLike} from './adapters/ky.js';
export type {Mutate, UpdateOptions, UpdateResult} from './adapters/update.js';
export type {ConflictBackoffContext} from './occ/contention.js';
export {
	capacities,
	type CapacitiesOptions,
	etag,
	type EtagOptions,
	kubernetes,
	type KubernetesOptions,
	notion,
	type NotionOptions,
	rekord,
	type RekordOptions,
	square,
	type SquareOptions,
} from './presets/index.js';
export {defaultKey, normalizeUrl} from './keys/normalize.js';
export {partitionOf} from './keys/partition.js';
export type {KeyDecision, KeyPattern, KeyRule, KeysOption, LaneKeys, LaneRequest, OperationKind, Preset} from './keys/types.js';
export {
	BackendError,
	BodyParseError,
	ClosedError,
	ConflictError,
	HookError,
	HttpError,
	isBackendError,
	isBodyParseError,
	isClosedError,
	isConflictError,
	isHookError,
	isHttpError,
	isLaneTimeoutError,
	isQueueFullError,
	isWritelaneError,
	LaneTimeoutError,
	isUncertainOutcomeError,
	QueueFullError,
	type Reply,
	UncertainOutcomeError,
	WritelaneError,
	type WritelaneErrorOptions,
} from './errors/index.js';
export {isRateLimitError, RateLimitError} from './errors/index.js';
