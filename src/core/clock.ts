import {describe} from '../errors/describe.js';

type PlatformHandle = ReturnType<typeof globalThis.setTimeout>;

/**
The longest delay a platform timer holds: 2^31 - 1 ms, about 24.8 days. Browsers and Node fire a
longer one after 1 ms (Node with a `TimeoutOverflowWarning`), so `clock.setTimeout()` chains them.
*/
export const maxTimerDelay = 2_147_483_647;

/** A delay longer than `maxTimerDelay`, waited for as a chain of platform timers; `current` is the one armed now. */
class LongTimer {
	current: PlatformHandle | undefined;
}

export type TimerHandle = PlatformHandle | LongTimer;

/**
Timers and time, looked up on `globalThis` at each call so that fake timers installed after this
module loaded (tests) still take effect.
*/
export const clock = {
	/**
	Calls `callback` once `ms` have passed, never earlier, however long `ms` is: a delay above
	`maxTimerDelay` is waited for in steps of at most that, and `Infinity` never fires (its timer
	re-arms every 24.8 days until cleared, so what waits on it keeps the process alive like any
	pending timer). A negative delay fires at once, as the platform's does. `NaN` throws a
	`TypeError`: every caller validates its delays, so one is a bug to surface, not a 1 ms timer.
	*/
	setTimeout(callback: () => void, ms: number): TimerHandle {
		if (typeof ms !== 'number' || Number.isNaN(ms)) {
			throw new TypeError(`Expected a timer delay to be a number of milliseconds, got ${describe(ms)}`);
		}

		if (ms <= maxTimerDelay) {
			return globalThis.setTimeout(callback, ms);
		}

		const timer = new LongTimer();
		let left = ms;
		const arm = () => {
			const step = Math.min(left, maxTimerDelay);
			left -= step;
			timer.current = globalThis.setTimeout(
				left > 0
					? arm
					: () => {
							timer.current = undefined;
							callback();
						},
				step,
			);
		};

		arm();
		return timer;
	},
	clearTimeout(handle: TimerHandle | undefined): void {
		if (handle instanceof LongTimer) {
			globalThis.clearTimeout(handle.current);
			handle.current = undefined;
			return;
		}

		globalThis.clearTimeout(handle);
	},
	now(): number {
		return Date.now();
	},
};

/** Resolves after `ms`, or rejects with `signal.reason` when it aborts first; leaves no timer or listener behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	if (signal?.aborted) {
		return Promise.reject(signal.reason);
	}

	return new Promise((resolve, reject) => {
		const onAbort = () => {
			clock.clearTimeout(timer);
			reject(signal?.reason);
		};

		const timer = clock.setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		signal?.addEventListener('abort', onAbort, {once: true});
	});
}
