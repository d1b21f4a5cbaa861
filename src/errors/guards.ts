import type {
	BackendError,
	BodyParseError,
	ClosedError,
	ConflictError,
	HookError,
	HttpError,
	LaneTimeoutError,
	QueueFullError,
	UncertainOutcomeError,
} from './errors.js';
import type {WritelaneError} from './writelane-error.js';

// Checked by name as well as by class, so errors from another copy of the package or another realm match.
function guard<T extends Error>(name: string) {
	return (error: unknown): error is T =>
		typeof error === 'object' && error !== null && (error as {name?: unknown}).name === name;
}

function isWritelaneErrorLike(error: unknown): error is WritelaneError {
	return (
		typeof error === 'object' &&
		error !== null &&
		typeof (error as {code?: unknown}).code === 'string' &&
		(error as {code: string}).code.startsWith('WL_')
	);
}

export const isWritelaneError = isWritelaneErrorLike;
export const isQueueFullError = guard<QueueFullError>('QueueFullError');
export const isLaneTimeoutError = guard<LaneTimeoutError>('LaneTimeoutError');
export const isClosedError = guard<ClosedError>('ClosedError');
export const isBackendError = guard<BackendError>('BackendError');
export const isConflictError = guard<ConflictError>('ConflictError');
export const isHttpError = guard<HttpError>('HttpError');
export const isUncertainOutcomeError = guard<UncertainOutcomeError>('UncertainOutcomeError');
export const isBodyParseError = guard<BodyParseError>('BodyParseError');
export const isHookError = guard<HookError>('HookError');
