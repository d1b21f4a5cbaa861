/**
Timers and time, looked up on `globalThis` at each call so that fake timers installed after this
module loaded (tests) still take effect.
*/
export type TimerHandle = ReturnType<typeof globalThis.setTimeout>;

export const clock = {
	setTimeout(callback: () => void, ms: number): TimerHandle {
		return globalThis.setTimeout(callback, ms);
	},
	clearTimeout(handle: TimerHandle | undefined): void {
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
