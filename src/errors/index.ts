export {WritelaneError, type WritelaneErrorOptions} from './writelane-error.js';
export {BackendError, ClosedError, ConflictError, HttpError, LaneTimeoutError, QueueFullError} from './errors.js';
export {
	isBackendError,
	isClosedError,
	isConflictError,
	isHttpError,
	isLaneTimeoutError,
	isQueueFullError,
	isWritelaneError,
} from './guards.js';
