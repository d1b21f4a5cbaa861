import {afterEach, beforeEach, expect, test, vi} from 'vitest';
import {clock, sleep} from '../src/core/clock.js';
import {normalizeRetry} from '../src/options.js';
import {parseRetryAfter} from '../src/pacing/rate-limit-headers.js';
import {createLanes, isLaneTimeoutError, isUncertainOutcomeError} from '../src/index.js';
import {deferred, flush, track} from './helpers.js';

/** The longest delay a platform timer holds (2^31 - 1 ms); a longer one fires after 1 ms. */
const timerMax = 2_147_483_647;

let warnings: string[] = [];
const onWarning = (warning: Error) => {
	warnings.push(warning.name);
};

beforeEach(() => {
	warnings = [];
	process.on('warning', onWarning);
});

afterEach(() => {
	process.off('warning', onWarning);
	// Spies first: restoring them after the real timers are back would reinstall the fake ones.
	vi.restoreAllMocks();
	vi.useRealTimers();
});

/**
Fake timers, with every delay handed to the platform recorded. Fake timers turn a delay above
2^31 - 1 into 1 ms silently, as Node does (with a TimeoutOverflowWarning): `overflowed()` lists them.
*/
function fakeTimers() {
	vi.useFakeTimers();
	const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
	const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
	return {
		overflowed: () => [...setTimeoutSpy.mock.calls, ...setIntervalSpy.mock.calls].map(([, ms]) => ms ?? 0).filter(ms => !(ms <= timerMax)),
	};
}

test('clock.setTimeout() - a delay beyond 2^31-1 ms fires at its time, never early', async () => {
	const timers = fakeTimers();
	const fired: number[] = [];
	const start = Date.now();
	clock.setTimeout(() => fired.push(Date.now() - start), 1e10);
	await vi.advanceTimersByTimeAsync(1);
	expect(fired).toEqual([]);
	await vi.advanceTimersByTimeAsync(timerMax);
	expect(fired).toEqual([]);
	await vi.advanceTimersByTimeAsync(1e10 - timerMax - 2);
	expect(fired).toEqual([]);
	expect(vi.getTimerCount()).toBe(1);
	await vi.advanceTimersByTimeAsync(1);
	expect(fired).toEqual([1e10]);
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
});

test('clock.clearTimeout() - clears a long timer before its first re-arm and after it', async () => {
	const timers = fakeTimers();
	const fired: string[] = [];
	const early = clock.setTimeout(() => fired.push('early'), 1e10);
	const late = clock.setTimeout(() => fired.push('late'), 1e10);
	const short = clock.setTimeout(() => fired.push('short'), 10);
	clock.clearTimeout(early);
	await vi.advanceTimersByTimeAsync(timerMax + 5);
	expect(vi.getTimerCount()).toBe(1);
	clock.clearTimeout(late);
	expect(vi.getTimerCount()).toBe(0);
	await vi.advanceTimersByTimeAsync(2e10);
	expect(fired).toEqual(['short']);
	// Clearing again, or clearing a timer that fired, is harmless.
	clock.clearTimeout(late);
	clock.clearTimeout(short);
	clock.clearTimeout(undefined);
	expect(timers.overflowed()).toEqual([]);
});

test('clock.setTimeout() - an infinite delay never fires, holds one timer and stays clearable', async () => {
	const timers = fakeTimers();
	let fired = false;
	const handle = clock.setTimeout(() => {
		fired = true;
	}, Number.POSITIVE_INFINITY);
	await vi.advanceTimersByTimeAsync(1e11);
	expect(fired).toBe(false);
	expect(vi.getTimerCount()).toBe(1);
	clock.clearTimeout(handle);
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
});

test('clock.setTimeout() - a NaN delay is refused instead of firing after 1 ms', () => {
	vi.useFakeTimers();
	expect(() => clock.setTimeout(() => undefined, Number.NaN)).toThrow(new TypeError('Expected a timer delay to be a number of milliseconds, got `NaN` (number)'));
	expect(vi.getTimerCount()).toBe(0);
});

test('clock.setTimeout() - fake timers installed after the clock was loaded are used, for long delays too', async () => {
	vi.useFakeTimers();
	let fired = false;
	clock.setTimeout(() => {
		fired = true;
	}, 3e9);
	expect(vi.getTimerCount()).toBe(1);
	await vi.advanceTimersByTimeAsync(3e9 - 1);
	expect(fired).toBe(false);
	await vi.advanceTimersByTimeAsync(1);
	expect(fired).toBe(true);
});

test('clock.setTimeout() - with real timers a long delay raises no TimeoutOverflowWarning and does not fire', async () => {
	let fired = false;
	const handle = clock.setTimeout(() => {
		fired = true;
	}, 1e10);
	// A warning is emitted on the next tick; a timer that overflowed fires after 1 ms. Wait past both.
	await new Promise(resolve => {
		setTimeout(resolve, 20);
	});
	clock.clearTimeout(handle);
	expect(warnings).toEqual([]);
	expect(fired).toBe(false);
});

test('sleep() - a long sleep resolves at its time; aborting one rejects with the reason and leaves no timer', async () => {
	const timers = fakeTimers();
	const long = track(sleep(3e9));
	await vi.advanceTimersByTimeAsync(3e9 - 1);
	expect(long.outcome.status).toBe('pending');
	await vi.advanceTimersByTimeAsync(1);
	expect(long.outcome.status).toBe('fulfilled');

	const controller = new AbortController();
	const aborted = sleep(1e12, controller.signal);
	await vi.advanceTimersByTimeAsync(timerMax * 2);
	const reason = new Error('stop');
	controller.abort(reason);
	await expect(aborted).rejects.toBe(reason);
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
});

test('queueTimeout - 1e10 ms: a queued write times out after 1e10 ms, not at once', async () => {
	const timers = fakeTimers();
	const lanes = createLanes({queueTimeout: 1e10});
	const gate = deferred();
	const running = lanes.write('a', () => gate.promise);
	const queued = track(lanes.write('a', async () => 'ran'));
	await vi.advanceTimersByTimeAsync(1);
	expect(queued.outcome.status).toBe('pending');
	await vi.advanceTimersByTimeAsync(1e10 - 2);
	expect(queued.outcome.status).toBe('pending');
	await vi.advanceTimersByTimeAsync(1);
	expect(queued.outcome.status).toBe('rejected');
	const {reason} = queued.outcome as {reason: unknown};
	expect(isLaneTimeoutError(reason)).toBe(true);
	expect((reason as Error).message).toBe('Waited 10000000000 ms for lane `a` without getting it (`queueTimeout`)');
	gate.resolve();
	await running;
	await lanes.onIdle();
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
});

test('uncertain.graceMs - 1e12 ms: the lane stays held for the whole grace period', async () => {
	const timers = fakeTimers();
	const sent: string[] = [];
	const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		sent.push(request.method);
		if (request.method === 'PATCH') {
			throw new TypeError('fetch failed');
		}

		return new Response('{}');
	};

	const lanes = createLanes({uncertain: {policy: 'settle', graceMs: 1e12}});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const failed = track(laneFetch('https://api.test/o/1', {method: 'PATCH', body: '1'}));
	const next = track(laneFetch('https://api.test/o/1', {method: 'PUT', body: '2'}));
	await vi.advanceTimersByTimeAsync(1);
	expect(sent).toEqual(['PATCH']);
	await vi.advanceTimersByTimeAsync(1e12 - 2);
	// The lane is what the grace period holds (the failed write's caller may be told earlier).
	expect(sent).toEqual(['PATCH']);
	expect(next.outcome.status).toBe('pending');
	await vi.advanceTimersByTimeAsync(1);
	await flush();
	expect(isUncertainOutcomeError((failed.outcome as {reason: unknown}).reason)).toBe(true);
	expect(next.outcome.status).toBe('fulfilled');
	expect(sent).toEqual(['PATCH', 'PUT']);
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
});

test('retry.maxRetryAfter: false - a Retry-After of 3,000,000 s is waited for in full before the retry', async () => {
	const timers = fakeTimers();
	const start = Date.now();
	const sent: number[] = [];
	const fetchImpl = async () => {
		sent.push(Date.now() - start);
		return sent.length === 1 ? new Response(null, {status: 429, headers: {'retry-after': '3000000'}}) : new Response('ok');
	};

	const lanes = createLanes({retry: {maxRetryAfter: false}});
	const pending = track(lanes.wrapFetch(fetchImpl)('https://api.test/a', {method: 'PUT', body: 'x'}));
	await vi.advanceTimersByTimeAsync(1);
	expect(sent).toEqual([0]);
	await vi.advanceTimersByTimeAsync(3e9 - 2);
	expect(sent).toEqual([0]);
	await vi.advanceTimersByTimeAsync(1);
	await flush();
	expect(sent).toEqual([0, 3e9]);
	expect((pending.outcome as {value: Response}).value.status).toBe(200);
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
});

test('parseRetryAfter() - a Retry-After too long for a number stays a finite delay', () => {
	const now = Date.parse('2026-01-01T00:00:00Z');
	expect(parseRetryAfter('9'.repeat(400), now)).toBe(Number.MAX_SAFE_INTEGER);
	expect(parseRetryAfter('1000000000000', now)).toBe(1e15);
});

test('retry.backoff - delays that could not be waited for are refused, the computed ones stay finite', async () => {
	expect(() => createLanes({retry: {backoff: {base: Number.POSITIVE_INFINITY}}})).toThrow(
		'Expected `retry.backoff.base` to be a finite number of milliseconds >= 0, got `Infinity` (number)',
	);
	expect(() => createLanes({retry: {backoff: {max: Number.POSITIVE_INFINITY}}})).toThrow(
		'Expected `retry.backoff.max` to be a finite number of milliseconds >= 0, got `Infinity` (number)',
	);

	const timers = fakeTimers();
	const fetchImpl = async () => new Response(null, {status: 503});
	const infinite = createLanes({retry: {backoff: () => Number.POSITIVE_INFINITY}});
	await expect(infinite.wrapFetch(fetchImpl)('https://api.test/a')).rejects.toThrow(
		new TypeError('Expected `retry.backoff()` to return a finite number of milliseconds >= 0, got `Infinity` (number)'),
	);

	// After a thousand attempts `2 ** attempt` is Infinity; the delay must still be a number within `max`.
	vi.spyOn(Math, 'random').mockReturnValue(0.5);
	expect(normalizeRetry({backoff: {base: 0, max: 5}}).backoff(2000)).toBe(0);
	expect(normalizeRetry({backoff: {base: 1, max: 5}}).backoff(2000)).toBe(3);
	expect(timers.overflowed()).toEqual([]);
});

test('rateLimit.interval - a window longer than a timer can hold is refused, instead of a limiter that spins', () => {
	expect(() => createLanes({rateLimit: {limit: 1, interval: 1e10}})).toThrow(
		new TypeError('Expected `rateLimit.interval` to be a number of milliseconds <= 2147483647 (about 24.8 days), got `10000000000` (number)'),
	);
	expect(() => createLanes({rateLimit: {limit: 1, interval: timerMax}})).not.toThrow();
});
