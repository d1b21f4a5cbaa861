import {getEventListeners} from 'node:events';
import fc from 'fast-check';
import {afterEach, expect, test, vi} from 'vitest';
import {createLanes, isRateLimitError, RateLimitError} from '../src/index.js';
import {normalizePacing} from '../src/options.js';
import {Pacer, type PacerOptions, type PacingMode, resetMargin} from '../src/pacing/pacer.js';
import {FixedWindowLimiter, rateLimitHeader, resetSeconds} from '../src/testing/rate-limit.js';

const t0 = Date.UTC(2025, 0, 1);

/** A pacer as `createLanes({pacing})` makes one: the options checked and completed with the defaults. */
function newPacer(options?: PacerOptions): Pacer {
	return new Pacer(normalizePacing(options));
}

afterEach(() => {
	// Spies first: restoring them after the real timers are back would reinstall the fake ones.
	vi.restoreAllMocks();
	vi.useRealTimers();
});

function rateLimit(value: string, extra: Record<string, string> = {}): Headers {
	return new Headers({RateLimit: value, ...extra});
}

/** Starts `count` waits at once; `starts` fills with each one's start time, relative to t0, in the order they start. */
function waitMany(pacer: Pacer, bucket: string, count: number) {
	const starts: number[] = [];
	const done = Promise.all(
		Array.from({length: count}, async () => {
			await pacer.wait(bucket);
			starts.push(Date.now() - t0);
		}),
	);
	return {starts, done};
}

/**
An endpoint enforcing `limit` requests per fixed window, on the fake clock: the window opens with the
first request after the previous one ended (the reference server's semantics), a request over the
quota gets a 429, and every answer announces `RateLimit: limit=…, remaining=…, reset=…` (draft 07).
*/
function endpoint(limit: number, windowMs: number) {
	const limiter = new FixedWindowLimiter(limit, windowMs, () => Date.now());
	const log = {starts: [] as number[], tooMany: 0};
	return {
		log,
		async request(latencyMs: number): Promise<Response> {
			const decision = limiter.take('token');
			log.starts.push(Date.now() - t0);
			if (!decision.allowed) {
				log.tooMany++;
			}

			await new Promise(resolve => setTimeout(resolve, latencyMs));
			const headers = new Headers({RateLimit: rateLimitHeader(decision)});
			if (!decision.allowed) {
				headers.set('Retry-After', String(resetSeconds(decision.resetMs)));
			}

			return new Response(null, {status: decision.allowed ? 200 : 429, headers});
		},
	};
}

/** One request as `send()` makes it: wait for the pacer, send, let the pacer observe the answer or the failure. */
async function paced(pacer: Pacer | undefined, server: ReturnType<typeof endpoint>, latencyMs: number): Promise<number> {
	await pacer?.wait('endpoint');
	let response: Response | undefined;
	try {
		response = await server.request(latencyMs);
	} finally {
		pacer?.observe('endpoint', response?.headers);
	}

	return response.status;
}

test.each<PacingMode>(['burst', 'spread'])('Pacer (%s) - acceptance: 90 requests at 30 per minute get no 429 and finish within 5%% of the quota bound', async mode => {
	vi.useFakeTimers({now: t0});
	const latency = 50;
	const server = endpoint(30, 60_000);
	const pacer = newPacer({mode});
	let finished = 0;
	const done = Promise.all(
		Array.from({length: 90}, async () => {
			const status = await paced(pacer, server, latency);
			finished = Math.max(finished, Date.now() - t0);
			return status;
		}),
	);
	await vi.advanceTimersByTimeAsync(300_000);
	const statuses = await done;

	expect(server.log.tooMany).toBe(0);
	expect(statuses.every(status => status === 200)).toBe(true);
	// The bound: a window opens with the first request after the previous one ended and admits 30.
	// Window 1 opens with request 1 at 0 s, window 2 no earlier than 60 s, window 3 (requests 61–90)
	// no earlier than 120 s; the batch ends with the answer to its last request, `latency` later.
	const bound = 120_000 + latency;
	expect(finished).toBeGreaterThanOrEqual(bound);
	expect(finished).toBeLessThanOrEqual(bound * 1.05);
	const gaps = server.log.starts.slice(1, 30).map((start, index) => start - (server.log.starts[index] ?? 0));
	if (mode === 'spread') {
		// While more requests waited than the window had left, they were spread over it (60 s / 30 = 2 s apart).
		expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1900);
		expect(Math.max(...gaps)).toBeLessThanOrEqual(2200);
	} else {
		// The first answer told the quota: the other 29 went at once, one round trip later.
		expect(server.log.starts.slice(0, 30)).toEqual([0, ...Array.from({length: 29}, () => latency)]);
	}

	expect(vi.getTimerCount()).toBe(0);
});

test('Pacer - acceptance control: the same batch without the pacer bounces off the quota', async () => {
	vi.useFakeTimers({now: t0});
	const server = endpoint(30, 60_000);
	const done = Promise.all(Array.from({length: 90}, async () => paced(undefined, server, 50)));
	await vi.advanceTimersByTimeAsync(1000);
	await done;
	expect(server.log.tooMany).toBe(60);
});

test('Pacer - a bucket it knows nothing about does not wait', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	await pacer.wait('unknown');
	expect(vi.getTimerCount()).toBe(0);

	const unprobed = newPacer({probe: false});
	const {starts, done} = waitMany(unprobed, 'unknown', 3);
	await done;
	expect(starts).toEqual([0, 0, 0]);
	expect(unprobed.size).toBe(0);
});

test('Pacer - while the first request to an unknown bucket is in flight, the others wait for its answer', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	const {starts, done} = waitMany(pacer, 'b', 4);
	await vi.advanceTimersByTimeAsync(500);
	expect(starts).toEqual([0]);

	// The answer announces a quota that fits them all.
	pacer.observe('b', rateLimit('limit=10, remaining=9, reset=60'));
	await done;
	expect(starts).toEqual([0, 500, 500, 500]);
});

test('Pacer - an answer without rate-limit fields frees an unknown bucket for good; a failure lets the next request ask', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(100);
	expect(starts).toEqual([0]);

	// No answer at all (network error): one more request goes to find out.
	pacer.observe('b', undefined);
	await vi.advanceTimersByTimeAsync(100);
	expect(starts).toEqual([0, 100]);

	pacer.observe('b', new Headers({'content-type': 'application/json'}));
	await done;
	expect(starts).toEqual([0, 100, 200]);
	const later = waitMany(pacer, 'b', 5);
	await later.done;
	expect(later.starts).toEqual([200, 200, 200, 200, 200]);
});

test('Pacer - a bucket that announced nothing has every 16th success read, and every error answer: a quota that appears later is followed', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	await pacer.wait('b');
	pacer.observe('b', new Headers(), Date.now(), 200);
	const exhausted = rateLimit('limit=5, remaining=0, reset=60');
	const free = async () => {
		const {starts, done} = waitMany(pacer, 'b', 1);
		await vi.advanceTimersByTimeAsync(0);
		await done;
		return starts;
	};

	// Successes 1 to 15 after it announced nothing are not read: the bucket stays free.
	for (let answer = 1; answer < 16; answer++) {
		expect(await free()).toEqual([0]);
		pacer.observe('b', exhausted, Date.now(), 200);
	}

	// The 16th is read: nothing is left until the reset, so the next request waits for it.
	await free();
	pacer.observe('b', exhausted, Date.now(), 200);
	const {starts, done} = waitMany(pacer, 'b', 1);
	await vi.advanceTimersByTimeAsync(1000);
	expect(starts).toEqual([]);
	await vi.advanceTimersByTimeAsync(60_000);
	await done;
	expect(starts[0]).toBeGreaterThanOrEqual(60_000);

	// An error answer is read at once: a 429 with Retry-After on a free bucket holds the next request.
	const other = newPacer();
	await other.wait('c');
	other.observe('c', new Headers(), Date.now(), 200);
	await other.wait('c');
	other.observe('c', rateLimit('limit=5, remaining=0, reset=30', {'Retry-After': '30'}), Date.now(), 429);
	const held = waitMany(other, 'c', 1);
	await vi.advanceTimersByTimeAsync(1000);
	expect(held.starts).toEqual([]);
	await vi.advanceTimersByTimeAsync(30_000);
	await held.done;
	expect(held.starts).toHaveLength(1);
});

test('Pacer - requests a free bucket let through still count against a quota that appears while they are in flight', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	await pacer.wait('b');
	pacer.observe('b', new Headers(), Date.now(), 200);
	// Answers 1 to 14 after it announced nothing: not read.
	for (let answer = 1; answer < 15; answer++) {
		await pacer.wait('b');
		pacer.observe('b', new Headers(), Date.now(), 200);
	}

	// Three start while the bucket is free; the 15th answer is not read, the 16th announces 2 left.
	await pacer.wait('b');
	await pacer.wait('b');
	await pacer.wait('b');
	pacer.observe('b', new Headers(), Date.now(), 200);
	pacer.observe('b', rateLimit('limit=20, remaining=2, reset=60'), Date.now(), 200);
	// That answer may be to the oldest of the three, and the two started with it may have spent both:
	// nothing more starts (had the three not been counted, three more could).
	const controller = new AbortController();
	let started = false;
	const waiting = pacer.wait('b', controller.signal).then(() => {
		started = true;
	});
	await vi.advanceTimersByTimeAsync(1000);
	expect(started).toBe(false);
	controller.abort(new Error('given up'));
	await expect(waiting).rejects.toThrow('given up');
});

test('Pacer (spread) - requests are spread evenly over what is left of the window when more wait than the quota left', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=5, remaining=5, reset=10'));
	const {starts, done} = waitMany(pacer, 'b', 7);
	await vi.advanceTimersByTimeAsync(9000);
	// 5 left for 10 s: 2 s apart, the last one 2 s before the reset.
	expect(starts).toEqual([0, 2000, 4000, 6000, 8000]);

	// Their answers come in; the window ends at 10 s and the next one admits 5, enough for the 2 left.
	for (const remaining of [4, 3, 2, 1, 0]) {
		pacer.observe('b', rateLimit(`limit=5, remaining=${remaining}, reset=1`));
	}

	await vi.advanceTimersByTimeAsync(1000);
	await done;
	expect(starts).toEqual([0, 2000, 4000, 6000, 8000, 10_000, 10_000]);
	expect(vi.getTimerCount()).toBe(0);
});

test('Pacer (spread) - requests arriving one by one are spaced too, not only queued ones', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=3, remaining=3, reset=9'));
	const starts: number[] = [];
	for (let index = 0; index < 3; index++) {
		const waiting = pacer.wait('b');
		await vi.runOnlyPendingTimersAsync();
		await waiting;
		starts.push(Date.now() - t0);
		pacer.observe('b', rateLimit(`limit=3, remaining=${2 - index}, reset=${9 - (Date.now() - t0) / 1000}`));
	}

	expect(starts).toEqual([0, 3000, 6000]);
});

test('Pacer (spread) - the requests that waited for a window start at once when they fit in it; later ones are spaced', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=4, remaining=0, reset=10'));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(10_000);
	await done;
	expect(starts).toEqual([10_000, 10_000, 10_000]);

	// One of 4 left for the 10 s to the next reset: half way.
	const late = pacer.wait('b');
	await vi.advanceTimersByTimeAsync(4999);
	expect(vi.getTimerCount()).toBe(1);
	await vi.advanceTimersByTimeAsync(1);
	await late;
	expect(Date.now() - t0).toBe(15_000);
});

test('Pacer (spread) - requests in flight count against `remaining` until their answers arrive', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=2, remaining=2, reset=30'));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(16_000);
	expect(starts).toEqual([0, 15_000]);
	// The first answer counts only itself: the second request is still in flight, so nothing is left.
	pacer.observe('b', rateLimit('limit=2, remaining=1, reset=14'));
	await vi.advanceTimersByTimeAsync(13_000);
	expect(starts).toEqual([0, 15_000]);

	pacer.observe('b', rateLimit('limit=2, remaining=0, reset=1'));
	await vi.advanceTimersByTimeAsync(1000);
	await done;
	expect(starts).toEqual([0, 15_000, 30_000]);
});

test('Pacer (spread) - an answer from earlier in the window does not raise `remaining`', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=10, remaining=1, reset=60'));
	vi.advanceTimersByTime(1000);
	// Sent before the one above, answered after it.
	pacer.observe('b', rateLimit('limit=10, remaining=8, reset=59'));
	const {starts, done} = waitMany(pacer, 'b', 2);
	await vi.advanceTimersByTimeAsync(58_000);
	expect(starts).toEqual([1000]);
	await vi.advanceTimersByTimeAsync(1000);
	await done;
	expect(starts).toEqual([1000, 60_000]);
});

test('Pacer - an answer from the next window replaces the exhausted one', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=10, remaining=0, reset=60'));
	const waiting = pacer.wait('b');
	await vi.advanceTimersByTimeAsync(59_000);
	pacer.observe('b', rateLimit('limit=10, remaining=9, reset=60'));
	await waiting;
	expect(Date.now() - t0).toBe(59_000);
});

test('Pacer (spread) - a late answer from a window that has ended does not hold up the current one', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=5, remaining=1, reset=10'));
	vi.advanceTimersByTime(10_000);
	pacer.observe('b', rateLimit('limit=5, remaining=4, reset=60'));
	// Sent in the first window, answered now: it says nothing about the second.
	pacer.observe('b', rateLimit('limit=5, remaining=0, reset=1'));
	const {starts, done} = waitMany(pacer, 'b', 2);
	await vi.advanceTimersByTimeAsync(60_000);
	await done;
	// 4 left for 60 s: the first at once, the second 60 s / 4 later.
	expect(starts).toEqual([10_000, 25_000]);
});

test('Pacer (spread) - after the reset a new window of `limit` is spread like the first', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=4, remaining=0, reset=8'));
	const {starts, done} = waitMany(pacer, 'b', 6);
	await vi.advanceTimersByTimeAsync(15_000);
	// Window 8–16 s admits 4 of the 6: 2 s apart.
	expect(starts).toEqual([8000, 10_000, 12_000, 14_000]);
	for (const remaining of [3, 2, 1, 0]) {
		pacer.observe('b', rateLimit(`limit=4, remaining=${remaining}, reset=1`));
	}

	await vi.advanceTimersByTimeAsync(1000);
	await done;
	expect(starts).toEqual([8000, 10_000, 12_000, 14_000, 16_000, 16_000]);
});

test('Pacer (spread) - a request that ends without an answer stays counted, and may have opened the window as late as then', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=2, remaining=0, reset=8'));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(12_000);
	// The window assumed at 8 s admits 2: the first at once, the next half way.
	expect(starts).toEqual([8000, 12_000]);
	vi.advanceTimersByTime(1000);
	// Both fail at 13 s: the server counted them in a window it opened between 8 and 13 s.
	pacer.observe('b', undefined);
	pacer.observe('b', undefined);
	await vi.advanceTimersByTimeAsync(7999);
	expect(starts).toEqual([8000, 12_000]);
	await vi.advanceTimersByTimeAsync(1);
	await done;
	expect(starts).toEqual([8000, 12_000, 21_000]);
});

test('Pacer (spread) - without a known limit, the first request after the reset asks for the new window', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', new Headers({'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '10'}));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(10_500);
	expect(starts).toEqual([10_000]);
	pacer.observe('b', new Headers({'X-RateLimit-Remaining': '9', 'X-RateLimit-Reset': '10'}));
	await done;
	expect(starts).toEqual([10_000, 10_500, 10_500]);
});

test('Pacer - a Retry-After next to the rate-limit fields wins', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=10, remaining=5, reset=30', {'Retry-After': '5'}));
	const waiting = pacer.wait('b');
	await vi.advanceTimersByTimeAsync(4999 + resetMargin);
	expect(vi.getTimerCount()).toBe(1);
	await vi.advanceTimersByTimeAsync(1);
	await waiting;
	expect(Date.now() - t0).toBe(5000 + resetMargin);

	// Without rate-limit fields a Retry-After is the limiter's business (it pauses every request), not the pacer's.
	const alone = newPacer();
	alone.observe('b', new Headers({'Retry-After': '5'}));
	expect(alone.size).toBe(0);
});

test('Pacer - aborting a wait rejects with the reason and leaves no timer or listener', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=1, remaining=0, reset=30'));
	const controller = new AbortController();
	const waiting = pacer.wait('b', controller.signal);
	expect(vi.getTimerCount()).toBe(1);
	expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
	const reason = new Error('stop');
	controller.abort(reason);
	await expect(waiting).rejects.toBe(reason);
	expect(vi.getTimerCount()).toBe(0);
	expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

	await expect(pacer.wait('b', AbortSignal.abort(reason))).rejects.toBe(reason);
});

test('Pacer (spread) - a wait that starts removes its abort listener, and an aborted one gives its turn to the next', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=2, remaining=2, reset=10'));
	const controllers = [new AbortController(), new AbortController(), new AbortController()];
	const starts: string[] = [];
	const waits = controllers.map(async (controller, index) => {
		await pacer.wait('b', controller.signal);
		starts.push(`${index}@${Date.now() - t0}`);
	});
	await vi.advanceTimersByTimeAsync(0);
	// Two left for 10 s: the first starts now, the next half way to the reset.
	expect(starts).toEqual(['0@0']);
	expect(getEventListeners(controllers[0]!.signal, 'abort')).toHaveLength(0);
	controllers[1]!.abort();
	await expect(waits[1]).rejects.toThrow();
	await vi.advanceTimersByTimeAsync(5000);
	await waits[2];
	expect(starts).toEqual(['0@0', '2@5000']);
	expect(getEventListeners(controllers[2]!.signal, 'abort')).toHaveLength(0);
	expect(vi.getTimerCount()).toBe(0);
});

test('Pacer - buckets are bounded: the least recently used idle one is forgotten first', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({maxBuckets: 2});
	const exhausted = rateLimit('limit=1, remaining=0, reset=60');
	pacer.observe('a', exhausted);
	pacer.observe('b', exhausted);
	pacer.observe('a', exhausted);
	pacer.observe('c', exhausted);
	expect(pacer.size).toBe(2);
	// 'a' and 'c' are remembered, so they wait; 'b' was forgotten, so it does not.
	let started = 0;
	const a = pacer.wait('a').then(() => started++);
	const c = pacer.wait('c').then(() => started++);
	await pacer.wait('b');
	await vi.advanceTimersByTimeAsync(59_999 + resetMargin);
	expect(started).toBe(0);
	await vi.advanceTimersByTimeAsync(1);
	await Promise.all([a, c]);
	expect(started).toBe(2);
});

test('Pacer - a bucket with requests waiting is never forgotten', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer({maxBuckets: 1});
	pacer.observe('a', rateLimit('limit=1, remaining=0, reset=60'));
	const waiting = pacer.wait('a');
	pacer.observe('b', rateLimit('limit=1, remaining=0, reset=60'));
	expect(pacer.size).toBe(1);
	await vi.advanceTimersByTimeAsync(59_999 + resetMargin);
	expect(vi.getTimerCount()).toBe(1);
	await vi.advanceTimersByTimeAsync(1);
	await waiting;
	expect(Date.now() - t0).toBe(60_000 + resetMargin);
});

test('Pacer - a bucket is forgotten once its window has reset with nothing waiting or in flight', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('a', rateLimit('limit=5, remaining=2, reset=10'));
	pacer.observe('b', rateLimit('limit=5, remaining=2, reset=30'));
	expect(pacer.size).toBe(2);
	vi.advanceTimersByTime(9999);
	pacer.observe('c', rateLimit('limit=5, remaining=2, reset=30'));
	expect(pacer.size).toBe(3);
	vi.advanceTimersByTime(1);
	pacer.observe('c', rateLimit('limit=5, remaining=1, reset=30'));
	expect(pacer.size).toBe(2);
});

test('Pacer - invalid options and buckets', async () => {
	expect(() => newPacer({maxBuckets: 0})).toThrow(new TypeError('Expected `pacing.maxBuckets` to be an integer >= 1, got `0` (number)'));
	expect(() => newPacer({maxBuckets: 1.5})).toThrow('Expected `pacing.maxBuckets` to be an integer >= 1, got `1.5` (number)');
	expect(() => newPacer({probe: 'yes' as unknown as boolean})).toThrow('Expected `pacing.probe` to be a boolean, got `"yes"` (string)');
	await expect(newPacer().wait(1 as unknown as string)).rejects.toThrow(new TypeError('Expected `bucket` to be a string, got `1` (number)'));
});

/** Runs `requests` through a pacer against `endpoint(limit, windowSeconds)`, each delayed `out` on the way there and `back` on the way back; `lost` answers never arrive. */
async function simulate(
	limit: number,
	windowSeconds: number,
	requests: ReadonlyArray<{readonly arrival: number; readonly out: number; readonly back: number; readonly lost?: boolean}>,
	mode: PacingMode = 'burst',
) {
	const limiter = new FixedWindowLimiter(limit, windowSeconds * 1000, () => Date.now());
	const pacer = newPacer({mode});
	let tooMany = 0;
	let settled = 0;
	const done = Promise.all(
		requests.map(async ({arrival, out, back, lost}) => {
			await new Promise(resolve => setTimeout(resolve, arrival));
			await pacer.wait('endpoint');
			if (out > 0) {
				await new Promise(resolve => setTimeout(resolve, out));
			}

			const decision = limiter.take('token');
			if (!decision.allowed) {
				tooMany++;
			}

			await new Promise(resolve => setTimeout(resolve, back));
			pacer.observe('endpoint', lost ? undefined : new Headers({RateLimit: rateLimitHeader(decision)}));
			settled++;
		}),
	);
	// Each window serves at least one request, so this is always long enough.
	await vi.advanceTimersByTimeAsync(Math.max(...requests.map(({arrival}) => arrival)) + (requests.length + 2) * (windowSeconds + 5) * 1000);
	await done;
	return {tooMany, settled};
}

test('Pacer - an answer handled early but arriving late does not undo the count of one handled after it', async () => {
	vi.useFakeTimers({now: t0});
	// 2 per 3 s. At 18.862 s request A starts a server window and answers after 1 s; B starts at
	// 19.862 s (the pacer's next window), fills the server window and answers at once. A's answer then
	// proves a window later than any seen and still says "1 left": it was handled before B.
	const requests = [
		{arrival: 8969, out: 0, back: 0},
		{arrival: 8970, out: 0, back: 2462},
		{arrival: 8971, out: 0, back: 2430},
		{arrival: 18_862, out: 0, back: 1002},
		{arrival: 18_862, out: 0, back: 0},
		{arrival: 18_862, out: 0, back: 0},
	];
	expect(await simulate(2, 3, requests)).toEqual({tooMany: 0, settled: 6});
});

test('Pacer - a window the server opens a little after the pacer assumed it lasts until the server says', async () => {
	vi.useFakeTimers({now: t0});
	// 1 per second; the request of the second window reaches the server 2 ms after the pacer let it go.
	const requests = [
		{arrival: 0, out: 0, back: 0},
		{arrival: 0, out: 2, back: 0},
		{arrival: 1000, out: 0, back: 0},
	];
	expect(await simulate(1, 1, requests)).toEqual({tooMany: 0, settled: 3});
});

const arrivals = fc.record({
	limit: fc.integer({min: 1, max: 30}),
	windowSeconds: fc.integer({min: 1, max: 60}),
	requests: fc.array(
		fc.record({arrival: fc.integer({min: 0, max: 20}).map(second => second * 1000), out: fc.integer({min: 0, max: 2000}), back: fc.integer({min: 0, max: 2000})}),
		{minLength: 1, maxLength: 50},
	),
});

test.each<PacingMode>(['burst', 'spread'])('Pacer (%s) - property: whatever the quota, window, latencies and arrivals, no request is refused', {timeout: 60_000}, async mode => {
	await fc.assert(
		fc.asyncProperty(arrivals, async ({limit, windowSeconds, requests}) => {
			vi.useFakeTimers({now: t0});
			try {
				expect(await simulate(limit, windowSeconds, requests, mode)).toEqual({tooMany: 0, settled: requests.length});
				expect(vi.getTimerCount()).toBe(0);
			} finally {
				vi.useRealTimers();
			}
		}),
		{numRuns: 150},
	);
});

test.each<PacingMode>(['burst', 'spread'])('Pacer (%s) - property: answers lost after the server counted them do not make the pacer exceed the quota', {timeout: 60_000}, async mode => {
	await fc.assert(
		fc.asyncProperty(arrivals, fc.integer({min: 2, max: 5}), async ({limit, windowSeconds, requests}, every) => {
			vi.useFakeTimers({now: t0});
			try {
				// One burst, so that the first answer (which tells the pacer the quota) is never the lost one.
				const burst = requests.map((request, index) => ({...request, arrival: 0, lost: index % every === every - 1}));
				expect(await simulate(limit, windowSeconds, burst, mode)).toEqual({tooMany: 0, settled: burst.length});
				expect(vi.getTimerCount()).toBe(0);
			} finally {
				vi.useRealTimers();
			}
		}),
		{numRuns: 150},
	);
});

const hour = 3_600_000;

/**
Fake timers, with every delay the pacer hands the platform recorded, and the process warnings seen.
Fake timers, like Node, fire a delay above 2^31 - 1 ms after 1 ms (Node with a TimeoutOverflowWarning).
*/
function watchTimers() {
	vi.useFakeTimers({now: t0});
	const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
	const warnings: string[] = [];
	const onWarning = (warning: Error) => {
		warnings.push(warning.name);
	};

	process.on('warning', onWarning);
	return {
		warnings,
		/** How many timers were set since `watchTimers()` (a busy-spinning pacer sets thousands). */
		armed: () => setTimeoutSpy.mock.calls.length,
		overflowed: () => setTimeoutSpy.mock.calls.map(([, ms]) => ms ?? 0).filter(ms => !(ms <= 2_147_483_647)),
		stop() {
			process.off('warning', onWarning);
		},
	};
}

async function refusal(promise: Promise<void>): Promise<RateLimitError> {
	const error: unknown = await promise.then(
		() => {
			throw new Error('expected the wait to be refused');
		},
		(error_: unknown) => error_,
	);
	expect(isRateLimitError(error)).toBe(true);
	expect(error).toBeInstanceOf(RateLimitError);
	return error as RateLimitError;
}

test('Pacer - a Retry-After of 1e12 s does not wedge the bucket: its requests fail at once, and one asks again after `maxWait`', async () => {
	const timers = watchTimers();
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=10, remaining=0, reset=30', {'Retry-After': '1000000000000'}));
	const error = await refusal(pacer.wait('b'));
	expect(error).toMatchObject({code: 'WL_RATE_LIMITED', bucket: 'b', retryAt: t0 + 1e15, maxWait: hour});
	expect(error.message).toBe(
		'Rate-limit bucket `b` has no quota left for another 1000000000000 s, as the server announced: longer than `pacing.maxWait` (3600000 ms), so the request was not sent',
	);
	expect(vi.getTimerCount()).toBe(0);

	// The announcement is believed for `maxWait`: until then every request of the bucket fails at once.
	await vi.advanceTimersByTimeAsync(hour - 1);
	await refusal(pacer.wait('b'));
	expect(vi.getTimerCount()).toBe(0);

	// Then one request asks the server again, the others wait for its answer.
	await vi.advanceTimersByTimeAsync(1);
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(100);
	expect(starts).toEqual([hour]);
	pacer.observe('b', rateLimit('limit=10, remaining=9, reset=30'));
	await done;
	expect(starts).toEqual([hour, hour + 100, hour + 100]);
	pacer.observe('b', rateLimit('limit=10, remaining=8, reset=30'));
	pacer.observe('b', rateLimit('limit=10, remaining=7, reset=30'));

	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
	expect(timers.armed()).toBeLessThan(10);
	timers.stop();
	expect(timers.warnings).toEqual([]);
});

test('Pacer - a RateLimit reset 30 days away with no quota left: the waiting requests fail at once, later ones too; the answer to the next ask frees the bucket', async () => {
	const timers = watchTimers();
	const pacer = newPacer({probe: true});
	// Waiting for the answer to the first request, which tells the quota.
	const {starts, done} = waitMany(pacer, 'b', 1);
	const queued = [pacer.wait('b', new AbortController().signal), pacer.wait('b')];
	await vi.advanceTimersByTimeAsync(50);
	expect(starts).toEqual([0]);
	pacer.observe('b', rateLimit('limit=1000, remaining=0, reset=2592000'));
	await done;
	for (const waiting of queued) {
		expect(await refusal(waiting)).toMatchObject({bucket: 'b', retryAt: t0 + 50 + 2_592_000_000});
	}

	await refusal(pacer.wait('b'));
	expect(vi.getTimerCount()).toBe(0);

	// A request that fails without an answer leaves the next one to ask.
	await vi.advanceTimersByTimeAsync(hour);
	await pacer.wait('b');
	pacer.observe('b', undefined);
	await pacer.wait('b');
	// The server no longer sends rate-limit fields: the bucket is not paced any more.
	pacer.observe('b', new Headers());
	await Promise.all([pacer.wait('b'), pacer.wait('b')]);

	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
	expect(timers.armed()).toBeLessThan(10);
	timers.stop();
	expect(timers.warnings).toEqual([]);
});

test('Pacer (spread) - a long window with quota left is spread over at most `maxWait`, not over the month', async () => {
	const timers = watchTimers();
	const pacer = newPacer({mode: 'spread'});
	pacer.observe('b', rateLimit('limit=1000, remaining=100, reset=2592000'));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(hour);
	// 100 left, 99 of them not in flight: spaced an hour / 100 apart, then an hour / 99.
	expect(starts).toEqual([0, 36_000, 36_000 + Math.ceil(hour / 99)]);
	await done;
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
	timers.stop();
	expect(timers.warnings).toEqual([]);
});

test('Pacer - `maxWait: false` honours a wait of 30 days in full, with a timer that never fires early and never spins', async () => {
	const timers = watchTimers();
	const pacer = newPacer({maxWait: false});
	pacer.observe('b', rateLimit('limit=10, remaining=0, reset=2592000'));
	const {starts, done} = waitMany(pacer, 'b', 1);
	await vi.advanceTimersByTimeAsync(2_592_000_000 + resetMargin - 1);
	expect(starts).toEqual([]);
	expect(vi.getTimerCount()).toBe(1);
	await vi.advanceTimersByTimeAsync(1);
	await done;
	expect(starts).toEqual([2_592_000_000 + resetMargin]);
	pacer.observe('b', rateLimit('limit=10, remaining=9, reset=60'));
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
	// Two chained timers cover the 30 days; a spinning pacer would set one per millisecond.
	expect(timers.armed()).toBeLessThan(5);
	timers.stop();
	expect(timers.warnings).toEqual([]);
});

test('Pacer - `maxWait` is validated; a wait of exactly `maxWait` is held, a longer one refused', async () => {
	expect(() => newPacer({maxWait: -1})).toThrow(new TypeError('Expected `pacing.maxWait` to be a number of milliseconds >= 0 or `false`, got `-1` (number)'));
	expect(() => newPacer({maxWait: Number.NaN})).toThrow('Expected `pacing.maxWait` to be a number of milliseconds >= 0 or `false`, got `NaN` (number)');
	expect(() => newPacer({maxWait: true as unknown as false})).toThrow('Expected `pacing.maxWait` to be a number of milliseconds >= 0 or `false`, got `true` (boolean)');

	vi.useFakeTimers({now: t0});
	const pacer = newPacer({maxWait: 1000});
	pacer.observe('long', rateLimit('limit=10, remaining=0, reset=2'));
	expect(await refusal(pacer.wait('long'))).toMatchObject({retryAt: t0 + 2000, maxWait: 1000});
	pacer.observe('short', rateLimit('limit=10, remaining=0, reset=1'));
	const {starts, done} = waitMany(pacer, 'short', 1);
	await vi.advanceTimersByTimeAsync(1000 + resetMargin);
	await done;
	expect(starts).toEqual([1000 + resetMargin]);
	pacer.observe('short', rateLimit('limit=10, remaining=9, reset=60'));
	expect(vi.getTimerCount()).toBe(0);
});

test('pacing - after a 429 with Retry-After 1e12 s, later requests to the origin fail at once without being sent, and the origin recovers', async () => {
	const timers = watchTimers();
	const sent: number[] = [];
	const replies = [
		() => new Response(null, {status: 429, headers: {'retry-after': '1000000000000', ratelimit: 'limit=10, remaining=0, reset=60'}}),
		() => new Response('ok', {headers: {ratelimit: 'limit=10, remaining=9, reset=60'}}),
		() => new Response('ok', {headers: {ratelimit: 'limit=10, remaining=8, reset=60'}}),
	];
	const fetchImpl = async () => {
		sent.push(Date.now() - t0);
		return (replies.shift() ?? replies[0]!)();
	};

	const lanes = createLanes();
	const laneFetch = lanes.wrapFetch(fetchImpl);
	// Longer than `retry.maxRetryAfter`: handed back.
	expect((await laneFetch('https://api.test/objects/1', {method: 'PUT', body: '1'})).status).toBe(429);
	const error = await refusal(laneFetch('https://api.test/objects/2', {method: 'PUT', body: '2'}).then(() => undefined));
	expect(error.bucket).toBe('https://api.test');
	expect(sent).toEqual([0]);
	expect(vi.getTimerCount()).toBe(0);
	await lanes.onIdle();

	await vi.advanceTimersByTimeAsync(hour);
	expect((await laneFetch('https://api.test/objects/2', {method: 'PUT', body: '2'})).status).toBe(200);
	// Paced again by the quota the answer announced: 9 left, so the next one goes at once.
	expect((await laneFetch('https://api.test/objects/3', {method: 'PUT', body: '3'})).status).toBe(200);
	expect(sent).toEqual([0, hour, hour]);
	await lanes.onIdle();
	expect(vi.getTimerCount()).toBe(0);
	expect(timers.overflowed()).toEqual([]);
	timers.stop();
	expect(timers.warnings).toEqual([]);
});

test('Pacer - a bucket spends what is left at once and waits for the reset only when it is spent; then one request asks', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=5, remaining=3, reset=10'));
	const {starts, done} = waitMany(pacer, 'b', 6);
	await vi.advanceTimersByTimeAsync(0);
	expect(starts).toEqual([0, 0, 0]);
	for (const remaining of [2, 1, 0]) {
		pacer.observe('b', rateLimit(`limit=5, remaining=${remaining}, reset=10`));
	}

	await vi.advanceTimersByTimeAsync(10_000 + resetMargin - 1);
	expect(starts).toEqual([0, 0, 0]);
	// The reset passed: what it gave back is not assumed, one request asks.
	await vi.advanceTimersByTimeAsync(1);
	expect(starts).toEqual([0, 0, 0, 10_020]);
	await vi.advanceTimersByTimeAsync(100);
	expect(starts).toEqual([0, 0, 0, 10_020]);
	pacer.observe('b', rateLimit('limit=5, remaining=4, reset=10'));
	await done;
	expect(starts).toEqual([0, 0, 0, 10_020, 10_120, 10_120]);
	expect(vi.getTimerCount()).toBe(0);
});

test('Pacer - an answer counts for the requests the server handled before it; every one sent after it counts against it', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=10, remaining=2, reset=30'));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(0);
	expect(starts).toEqual([0, 0]);
	// "1 left" after one of the two: the other may come after it, so nothing is left to send.
	pacer.observe('b', rateLimit('limit=10, remaining=1, reset=30'));
	await vi.advanceTimersByTimeAsync(1000);
	expect(starts).toEqual([0, 0]);
	pacer.observe('b', rateLimit('limit=10, remaining=0, reset=29'));
	await vi.advanceTimersByTimeAsync(29_000 + resetMargin);
	await done;
	expect(starts).toEqual([0, 0, 30_000 + resetMargin]);
});

test('Pacer - answers in any order never let more start than the server admits', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	const {starts, done} = waitMany(pacer, 'b', 6);
	await vi.advanceTimersByTimeAsync(0);
	pacer.observe('b', rateLimit('limit=4, remaining=3, reset=10'));
	await vi.advanceTimersByTimeAsync(0);
	expect(starts).toEqual([0, 0, 0, 0]);
	// The server handled them in the order 2, 1, 0 left; the answers arrive 0, then 2, then 1.
	for (const remaining of [0, 2, 1]) {
		pacer.observe('b', rateLimit(`limit=4, remaining=${remaining}, reset=10`));
		await vi.advanceTimersByTimeAsync(0);
		expect(starts).toHaveLength(4);
	}

	await vi.advanceTimersByTimeAsync(10_000 + resetMargin);
	expect(starts).toHaveLength(5);
	pacer.observe('b', rateLimit('limit=4, remaining=3, reset=10'));
	await done;
	expect(starts).toEqual([0, 0, 0, 0, 10_020, 10_020]);
});

test('Pacer - a reset that gives back one unit (a sliding window) lets one request through, and the next reset is asked about again', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=3, remaining=0, reset=2'));
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(2000 + resetMargin);
	expect(starts).toEqual([2020]);
	// The oldest request left the window; it took that unit, the next one leaves in a second.
	pacer.observe('b', rateLimit('limit=3, remaining=0, reset=1'));
	await vi.advanceTimersByTimeAsync(1000 + resetMargin - 1);
	expect(starts).toEqual([2020]);
	await vi.advanceTimersByTimeAsync(1);
	expect(starts).toEqual([2020, 3040]);
	pacer.observe('b', rateLimit('limit=3, remaining=1, reset=1'));
	await done;
	expect(starts).toEqual([2020, 3040, 3040]);
});

test('Pacer - with the window announced (`w`), a unit is back a window after the answer that spent it, before a reset rounded up', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	const policy = {'RateLimit-Policy': '2;w=2'};
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(100);
	pacer.observe('b', rateLimit('limit=2, remaining=1, reset=2', policy));
	await vi.advanceTimersByTimeAsync(200);
	expect(starts).toEqual([0, 100]);
	// Its reset rounds 1.8 s up to 2 s: 2300. The first request was handled by 100, so its window
	// (fixed or sliding) or its token (a bucket refilling 2 per 2 s) is back by 2100.
	pacer.observe('b', rateLimit('limit=2, remaining=0, reset=2', policy));
	await vi.advanceTimersByTimeAsync(2100 + resetMargin - 300 - 1);
	expect(starts).toEqual([0, 100]);
	await vi.advanceTimersByTimeAsync(1);
	await done;
	expect(starts).toEqual([0, 100, 2100 + resetMargin]);
});

test('Pacer - after the reset, the request that asks waits for those still in flight; an answer from the old window does not hold the new one up', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=5, remaining=1, reset=10'));
	// A slow request, still in flight at the reset.
	await pacer.wait('b');
	const {starts, done} = waitMany(pacer, 'b', 3);
	await vi.advanceTimersByTimeAsync(10_500);
	expect(starts).toEqual([]);
	// Its answer is from the old window ("nothing left, back in a second"): not news about the new one.
	pacer.observe('b', rateLimit('limit=5, remaining=0, reset=1'));
	await vi.advanceTimersByTimeAsync(0);
	expect(starts).toEqual([10_500]);
	await vi.advanceTimersByTimeAsync(10);
	pacer.observe('b', rateLimit('limit=5, remaining=4, reset=10'));
	await done;
	expect(starts).toEqual([10_500, 10_510, 10_510]);
});

test('Pacer - the request that asks after the reset ends without an answer: it may have spent what came back, so the bucket waits a window', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=1, remaining=0, reset=8'));
	const {starts, done} = waitMany(pacer, 'b', 2);
	await vi.advanceTimersByTimeAsync(8000 + resetMargin);
	expect(starts).toEqual([8020]);
	await vi.advanceTimersByTimeAsync(980);
	pacer.observe('b', undefined);
	await vi.advanceTimersByTimeAsync(8000 + resetMargin - 1);
	expect(starts).toEqual([8020]);
	await vi.advanceTimersByTimeAsync(1);
	await done;
	expect(starts).toEqual([8020, 17_020]);
});

test('Pacer - "nothing left" wins over what the bucket expected: another client spent the quota', async () => {
	vi.useFakeTimers({now: t0});
	const pacer = newPacer();
	pacer.observe('b', rateLimit('limit=10, remaining=5, reset=10'));
	const {starts, done} = waitMany(pacer, 'b', 4);
	await vi.advanceTimersByTimeAsync(0);
	pacer.observe('b', rateLimit('limit=10, remaining=0, reset=10'));
	await vi.advanceTimersByTimeAsync(0);
	expect(starts).toHaveLength(4);
	const more = waitMany(pacer, 'b', 2);
	for (let index = 0; index < 3; index++) {
		pacer.observe('b', undefined);
	}

	await vi.advanceTimersByTimeAsync(10_000 + resetMargin - 1);
	expect(more.starts).toEqual([]);
	await vi.advanceTimersByTimeAsync(1);
	expect(more.starts).toEqual([10_020]);
	pacer.observe('b', rateLimit('limit=10, remaining=9, reset=10'));
	await Promise.all([done, more.done]);
	expect(more.starts).toEqual([10_020, 10_020]);
});

test('Pacer - `mode` is validated', () => {
	expect(() => newPacer({mode: 'even' as PacingMode})).toThrow(new TypeError('Expected `pacing.mode` to be `\'burst\'` or `\'spread\'`, got `"even"` (string)'));
});

/**
Limiters as servers run them, on the fake clock; each answers with what it counted and when the
quota comes back, by one of the meanings servers give `reset`.
- fixed: a window opens with the first request after the last one ended; `reset` is its end.
- sliding: at most `limit` in any window; `reset` is when the oldest counted request leaves
  (`'next'`: one unit comes back) or when the newest does (`'full'`: everything is back).
- token: a bucket of `limit` refilling `limit` per window; `reset` is when the next token drips
  (`'next'`) or when the bucket is full (`'full'`).
*/
function model(algorithm: 'fixed' | 'sliding' | 'token', limit: number, windowMs: number, reset: 'next' | 'full') {
	let windowStart = Number.NEGATIVE_INFINITY;
	let count = 0;
	const log: number[] = [];
	let tokens = limit;
	let dripped = Date.now();
	return (): {allowed: boolean; remaining: number; resetMs: number} => {
		const now = Date.now();
		if (algorithm === 'fixed') {
			if (now >= windowStart + windowMs) {
				windowStart = now;
				count = 0;
			}

			const allowed = count < limit;
			count += allowed ? 1 : 0;
			return {allowed, remaining: limit - count, resetMs: windowStart + windowMs - now};
		}

		if (algorithm === 'sliding') {
			while (log.length > 0 && (log[0] ?? now) <= now - windowMs) {
				log.shift();
			}

			const allowed = log.length < limit;
			if (allowed) {
				log.push(now);
			}

			const leaving = reset === 'next' ? log[0] : log.at(-1);
			return {allowed, remaining: limit - log.length, resetMs: leaving === undefined ? 0 : leaving + windowMs - now};
		}

		tokens = Math.min(limit, tokens + ((now - dripped) * limit) / windowMs);
		dripped = now;
		const allowed = tokens >= 1;
		tokens -= allowed ? 1 : 0;
		const missing = reset === 'next' ? 1 - (tokens % 1) : limit - tokens;
		return {allowed, remaining: Math.floor(tokens), resetMs: tokens >= limit ? 0 : (missing * windowMs) / limit};
	};
}

test('Pacer - property: against fixed windows, sliding windows and token buckets, whatever `reset` means and whether the window is announced, no request is refused', {timeout: 60_000}, async () => {
	await fc.assert(
		fc.asyncProperty(
			arrivals,
			fc.constantFrom('fixed' as const, 'sliding' as const, 'token' as const),
			fc.constantFrom('next' as const, 'full' as const),
			fc.boolean(),
			async ({limit, windowSeconds, requests}, algorithm, reset, announced) => {
				vi.useFakeTimers({now: t0});
				try {
					const take = model(algorithm, limit, windowSeconds * 1000, reset);
					const pacer = newPacer();
					let tooMany = 0;
					const done = Promise.all(
						requests.map(async ({arrival, out, back}) => {
							await new Promise(resolve => setTimeout(resolve, arrival));
							await pacer.wait('endpoint');
							await new Promise(resolve => setTimeout(resolve, out));
							const decision = take();
							tooMany += decision.allowed ? 0 : 1;
							await new Promise(resolve => setTimeout(resolve, back));
							const headers = rateLimit(`limit=${limit}, remaining=${decision.remaining}, reset=${Math.ceil(decision.resetMs / 1000)}`);
							if (announced) {
								headers.set('RateLimit-Policy', `${limit};w=${windowSeconds}`);
							}

							pacer.observe('endpoint', headers);
						}),
					);
					await vi.advanceTimersByTimeAsync(20_000 + requests.length * (windowSeconds + 5) * 1000);
					await done;
					expect(tooMany).toBe(0);
					expect(vi.getTimerCount()).toBe(0);
				} finally {
					vi.useRealTimers();
				}
			},
		),
		{numRuns: 300},
	);
});
