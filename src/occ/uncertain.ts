import {sleep} from '../core/clock.js';
import {invalid} from '../core/describe.js';
import {UncertainOutcomeError} from '../errors/errors.js';
import {formatKey} from '../errors/writelane-error.js';

export type UncertainPolicyName = 'settle' | 'verify' | 'fail';

/**
What happens in a lane after a write failed in the transport (it may still be applied by the server):
- `'settle'`: the lane stays held for `graceMs` before the next write of the key starts, so a late
  application lands before it, not after;
- `'verify'`: the lane stays held while the resource is re-read; with an ETag or a version field the
  error then says whether the write was applied;
- `'fail'`: the writes queued on the key are rejected too, for the caller to decide.
*/
export type UncertainOptions = UncertainPolicyName | {readonly policy: UncertainPolicyName; readonly graceMs?: number};

export type UncertainPolicy = {readonly policy: UncertainPolicyName; readonly graceMs: number};

export function normalizeUncertain(value: UncertainOptions | undefined): UncertainPolicy {
	const options = value === undefined ? {policy: 'settle' as const} : typeof value === 'string' ? {policy: value} : value;
	if (typeof options !== 'object' || options === null) {
		throw invalid('uncertain', "`'settle'`, `'verify'`, `'fail'` or `{policy, graceMs}`", value);
	}

	const {policy, graceMs = 1000} = options;
	if (policy !== 'settle' && policy !== 'verify' && policy !== 'fail') {
		throw invalid('uncertain.policy', "`'settle'`, `'verify'` or `'fail'`", policy);
	}

	if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0) {
		throw invalid('uncertain.graceMs', 'a finite number of milliseconds >= 0', graceMs);
	}

	return {policy, graceMs};
}

export type UncertainTools = {
	readonly keys: readonly string[];
	/** Re-reads the resource and says whether its version moved past `before`; `undefined` when unknown. */
	readonly verify: () => Promise<boolean | undefined>;
	/** Rejects the writes queued on the keys. */
	readonly failQueued: (reason: () => unknown) => void;
};

/** Applies the policy while the lane is still held, then returns the error the caller gets. */
export async function handleUncertain(policy: UncertainPolicy, tools: UncertainTools, error: unknown, signal: AbortSignal): Promise<unknown> {
	const key = tools.keys.length === 1 ? tools.keys[0] : tools.keys;
	const lane = `lane ${formatKey(key)}`;
	let applied: boolean | undefined;
	switch (policy.policy) {
		case 'settle': {
			// Held even when the caller aborted: protecting the next write is the point.
			await sleep(policy.graceMs);
			break;
		}

		case 'verify': {
			try {
				applied = await tools.verify();
			} catch {
				applied = undefined;
			}

			break;
		}

		case 'fail': {
			tools.failQueued(
				() =>
					new UncertainOutcomeError(`An earlier write on ${lane} may or may not have been applied; this queued write was not sent (\`uncertain: 'fail'\`)`, {
						key,
						policy: 'fail',
						cause: error,
					}),
			);
			break;
		}
	}

	if (signal.aborted && error === signal.reason) {
		return error;
	}

	const outcome = applied === undefined ? 'may or may not have been applied' : applied ? 'was applied' : 'was not applied';
	return new UncertainOutcomeError(`A write on ${lane} failed in transit and ${outcome} (\`uncertain: '${policy.policy}'\`)`, {
		key,
		policy: policy.policy,
		applied,
		cause: error,
	});
}
