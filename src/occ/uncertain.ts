import {sleep} from '../core/clock.js';
import {UncertainOutcomeError} from '../errors/errors.js';
import {formatKey} from '../errors/writelane-error.js';

export type UncertainPolicyName = 'settle' | 'verify' | 'fail';

/**
What happens in a lane after a write whose outcome is unknown: it failed in the transport, or its
caller aborted it (its signal, a timeout) after it was sent. The server may still apply it, even
after the next write of its lane, which it would then overwrite.
- `'settle'`: the lane stays held for `graceMs` before the next write of the key starts, so a late
  application lands before it, not after;
- `'verify'`: the lane stays held while the resource is re-read (where the preset's `readUrl` says);
  with an ETag or a version field the error then says whether the write was applied. When the first
  re-read does not show it applied, it waits `graceMs` and re-reads once more;
- `'fail'`: the writes queued on the key are rejected too, for the caller to decide.

A write the server applies later than `graceMs` after it failed still overwrites what came after:
no client-side wait can rule that out. Preconditions (`If-Match`, a version field) can: a late write
based on a version that has moved on is refused by the server.
*/
export type UncertainOptions = UncertainPolicyName | {readonly policy: UncertainPolicyName; readonly graceMs?: number};

/** `UncertainOptions` with the defaults filled in and checked (`normalizeUncertain()`, options.ts). */
export type UncertainPolicy = {readonly policy: UncertainPolicyName; readonly graceMs: number};

export type UncertainTools = {
	readonly keys: readonly string[];
	/**
	Re-reads the resource and says whether its version moved past the one the write was based on;
	`undefined` when unknown. It must not use the caller's signal: the caller may have aborted.
	*/
	readonly verify: () => Promise<boolean | undefined>;
	/** Rejects the writes queued on the keys. */
	readonly failQueued: (reason: () => unknown) => void;
};

/** How the write's outcome became unknown. */
export type UncertainCause =
	/** The transport failed after the request may have reached the server (a reset, a broken connection). */
	| 'transport'
	/** The caller aborted or timed out the write after it was sent (its signal, ky's `timeout`). */
	| 'aborted';

/** What `handleUncertain()` decided. */
export type UncertainVerdict = {
	/** What the caller gets. */
	readonly error: UncertainOutcomeError;
	/**
	Resolves when the lane may go on to its next write (after `'settle'`'s grace period). The caller
	may be told `error` before: nothing it says changes while the lane waits.
	*/
	readonly held: Promise<void>;
};

async function check(verify: UncertainTools['verify']): Promise<boolean | undefined> {
	try {
		return await verify();
	} catch {
		return undefined;
	}
}

/**
Applies the policy while the caller still holds the lane, and returns the error for the caller and
how long the lane must stay held. `error` (the transport's error, or the caller's abort reason)
becomes the `cause`.

`'verify'` re-reads at once; when that does not show the write applied and `graceMs` is not 0, it
waits `graceMs` (a write still in the server's hands may land meanwhile) and re-reads again, so
`applied: false` means "not applied `graceMs` after it failed".
*/
export async function handleUncertain(policy: UncertainPolicy, tools: UncertainTools, error: unknown, cause: UncertainCause): Promise<UncertainVerdict> {
	const key = tools.keys.length === 1 ? tools.keys[0] : tools.keys;
	const lane = `lane ${formatKey(key)}`;
	let applied: boolean | undefined;
	let held = Promise.resolve();
	switch (policy.policy) {
		case 'settle': {
			// Held whatever the caller does next: protecting the next write is the point.
			held = sleep(policy.graceMs);
			break;
		}

		case 'verify': {
			applied = await check(tools.verify);
			if (applied !== true && policy.graceMs > 0) {
				await sleep(policy.graceMs);
				applied = await check(tools.verify);
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

	const outcome = applied === undefined ? 'may or may not have been applied' : applied ? 'was applied' : 'was not applied';
	const what = cause === 'aborted' ? 'was aborted by its caller after it was sent' : 'failed in transit';
	return {
		error: new UncertainOutcomeError(`A write on ${lane} ${what} and ${outcome} (\`uncertain: '${policy.policy}'\`)`, {
			key,
			policy: policy.policy,
			applied,
			cause: error,
		}),
		held,
	};
}
