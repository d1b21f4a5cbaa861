export {WritelaneError, type WritelaneErrorOptions} from './writelane-error.js';
export {isRateLimitError, RateLimitError} from './rate-limit.js';
export {BackendError, BodyParseError, ClosedError, ConflictError, HookError, HttpError, LaneTimeoutError, QueueFullError, type Reply, UncertainOutcomeError} from './errors.js';
export {
	isBackendError,
	isBodyParseError,
	isClosedError,
	isConflictError,
	isHookError,
	isHttpError,
	isLaneTimeoutError,
	isQueueFullError,
	isUncertainOutcomeError,
	isWritelaneError,
} from './guards.js';
