export {WritelaneError, type WritelaneErrorOptions} from './writelane-error.js';
export {BackendError, ClosedError, ConflictError, HttpError, LaneTimeoutError, QueueFullError, type Reply, UncertainOutcomeError} from './errors.js';
export {
	isBackendError,
	isClosedError,
	isConflictError,
	isHttpError,
	isLaneTimeoutError,
	isQueueFullError,
	isUncertainOutcomeError,
	isWritelaneError,
} from './guards.js';
