import {WritelaneError, type WritelaneErrorOptions} from './writelane-error.js';

/**
The server announced that a rate-limit bucket has no quota left until later than `pacing.maxWait`
from now (a long `Retry-After`, or a `RateLimit` reset with nothing remaining), so the pacer refused
the request at once instead of holding it that long. Nothing was sent. The announcement is believed
for `pacing.maxWait` after the answer that made it; then one request asks the server again.
*/
export class RateLimitError extends WritelaneError {
	override name = 'RateLimitError';
	override readonly code = 'WL_RATE_LIMITED';
	/** The pacing bucket: an origin, or what the preset names (`PATCH /object`). */
	readonly bucket: string;
	/** When the server said the quota comes back, in epoch milliseconds. */
	readonly retryAt: number;
	/** The `pacing.maxWait` the announced wait exceeded, in milliseconds. */
	readonly maxWait: number;

	constructor(bucket: string, retryAt: number, maxWait: number, now: number, options: WritelaneErrorOptions = {}) {
		super(
			`Rate-limit bucket \`${bucket}\` has no quota left for another ${Math.ceil((retryAt - now) / 1000)} s, as the server announced: longer than \`pacing.maxWait\` (${maxWait} ms), so the request was not sent`,
			options,
		);
		this.bucket = bucket;
		this.retryAt = retryAt;
		this.maxWait = maxWait;
	}
}

/** Whether `error` is a `RateLimitError`, from this copy of writelane or another (checked by name too). */
export function isRateLimitError(error: unknown): error is RateLimitError {
	return error instanceof RateLimitError || (typeof error === 'object' && error !== null && (error as {name?: unknown}).name === 'RateLimitError');
}
