import {afterEach, expect, test, vi} from 'vitest';
import {capacities, createLanes} from '../src/index.js';
import {FixedWindowLimiter, rateLimitHeader, resetSeconds} from '../src/testing/rate-limit.js';

const t0 = Date.UTC(2026, 0, 1);

afterEach(() => {
	vi.useRealTimers();
});

/** A Capacities-style endpoint counting per token and endpoint (30 per minute), announcing draft-07 `RateLimit`. */
function quotaFetch(limit: number, windowMs: number, latencyMs: number) {
	const limiter = new FixedWindowLimiter(limit, windowMs, () => Date.now());
	const log = {sent: 0, tooMany: 0, last: 0};
	const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		const decision = limiter.take(`${request.method} ${new URL(request.url).pathname}`);
		log.sent++;
		if (!decision.allowed) {
			log.tooMany++;
		}

		await new Promise(resolve => setTimeout(resolve, latencyMs));
		log.last = Date.now() - t0;
		const headers = new Headers({RateLimit: rateLimitHeader(decision)});
		if (!decision.allowed) {
			headers.set('Retry-After', String(resetSeconds(decision.resetMs)));
		}

		return new Response(decision.allowed ? '{}' : '{"code":"cap_rate_limit_exceeded"}', {status: decision.allowed ? 200 : 429, headers});
	};

	return {log, fetchImpl};
}

async function batch(pacing: boolean | {probe: boolean}) {
	vi.useFakeTimers({now: t0});
	const {log, fetchImpl} = quotaFetch(30, 60_000, 50);
	const lanes = createLanes({keys: capacities(), pacing});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	// 90 appends to 90 different objects: no lane holds them back, only the endpoint's quota does.
	const done = Promise.all(
		Array.from({length: 90}, async (_, index) =>
			laneFetch('https://api.capacities.io/blocks/append', {
				method: 'POST',
				headers: {'content-type': 'application/json'},
				body: JSON.stringify({id: `object-${index}`, blocks: [{type: 'TextBlock', text: 'x'}]}),
			}),
		),
	);
	await vi.advanceTimersByTimeAsync(400_000);
	const responses = await done;
	return {log, statuses: responses.map(response => response.status)};
}

test('pacing - a batch against a 30-per-minute endpoint gets no 429 and ends within 5% of the quota bound', async () => {
	const {log, statuses} = await batch({probe: true});
	expect(log.tooMany).toBe(0);
	expect(log.sent).toBe(90);
	expect(statuses.every(status => status === 200)).toBe(true);
	// Window 1 opens at 0 s, window 2 at 60 s, window 3 (requests 61–90) at 120 s; the last answer comes 50 ms later.
	const bound = 120_050;
	expect(log.last).toBeGreaterThanOrEqual(bound);
	expect(log.last).toBeLessThanOrEqual(bound * 1.05);
});

test('pacing - without it the same batch bounces off the quota (429s, retried inside their lanes)', async () => {
	const {log, statuses} = await batch(false);
	expect(log.tooMany).toBeGreaterThan(0);
	expect(statuses.every(status => status === 200 || status === 429)).toBe(true);
});
