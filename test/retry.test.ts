import {afterEach, beforeEach, expect, test, vi} from 'vitest';
import {parseRetryAfter} from '../src/pacing/rate-limit-headers.js';
import {createLanes} from '../src/index.js';

beforeEach(() => {
	vi.useFakeTimers();
});

afterEach(() => {
	vi.useRealTimers();
});

/** A fetch that answers from a script per path and logs `'<ms> <method> <path>'`. */
function scriptedFetch(script: Record<string, Array<() => Response>>) {
	const log: string[] = [];
	const start = Date.now();
	const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
		const request = new Request(input, init);
		const {pathname} = new URL(request.url);
		log.push(`${Date.now() - start} ${request.method} ${pathname}`);
		const next = script[pathname]?.shift();
		return next ? next() : new Response('ok');
	};

	return {log, fetchImpl};
}

test('parseRetryAfter() - delay-seconds, HTTP-date, past date and garbage', () => {
	const now = Date.parse('2026-01-01T00:00:00Z');
	expect(parseRetryAfter('2', now)).toBe(2000);
	expect(parseRetryAfter(' 0 ', now)).toBe(0);
	expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
	expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
	expect(parseRetryAfter('soon', now)).toBeUndefined();
	expect(parseRetryAfter('-1', now)).toBeUndefined();
	expect(parseRetryAfter(null, now)).toBeUndefined();
});

test('retry - a 429 waits Retry-After inside the lane and pauses requests of every other lane', async () => {
	const {log, fetchImpl} = scriptedFetch({'/a': [() => new Response(null, {status: 429, headers: {'retry-after': '2'}})]});
	const lanes = createLanes();
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const first = laneFetch('https://api.test/a', {method: 'POST', body: 'x'});
	await vi.advanceTimersByTimeAsync(0);
	const other = laneFetch('https://api.test/b', {method: 'PUT', body: 'y'});
	await vi.advanceTimersByTimeAsync(1999);
	expect(log).toEqual(['0 POST /a']);
	await vi.advanceTimersByTimeAsync(1);
	expect((await first).status).toBe(200);
	expect((await other).status).toBe(200);
	expect(log).toEqual(['0 POST /a', '2000 POST /a', '2000 PUT /b']);
});

test('retry - a Retry-After beyond maxRetryAfter hands the 429 to the caller', async () => {
	const {log, fetchImpl} = scriptedFetch({'/a': [() => new Response(null, {status: 429, headers: {'retry-after': '120'}})]});
	const lanes = createLanes({retry: {maxRetryAfter: 60_000}});
	const response = await lanes.wrapFetch(fetchImpl)('https://api.test/a', {method: 'PUT'});
	expect(response.status).toBe(429);
	expect(log).toEqual(['0 PUT /a']);
});

test('retry - stops after `limit` retries and returns the last response', async () => {
	const fail = () => new Response(null, {status: 503});
	const {log, fetchImpl} = scriptedFetch({'/a': [fail, fail, fail, fail]});
	const lanes = createLanes({retry: {limit: 2, backoff: attempt => attempt * 100}});
	const pending = lanes.wrapFetch(fetchImpl)('https://api.test/a', {method: 'DELETE'});
	await vi.advanceTimersByTimeAsync(300);
	expect((await pending).status).toBe(503);
	expect(log).toEqual(['0 DELETE /a', '100 DELETE /a', '300 DELETE /a']);
});

test('retry - default backoff is exponential with full jitter', async () => {
	vi.spyOn(Math, 'random').mockReturnValue(0.5);
	const fail = () => new Response(null, {status: 502});
	const {log, fetchImpl} = scriptedFetch({'/a': [fail, fail]});
	const lanes = createLanes();
	const pending = lanes.wrapFetch(fetchImpl)('https://api.test/a');
	await vi.advanceTimersByTimeAsync(1000);
	expect((await pending).status).toBe(200);
	// 0.5 * 300, then 0.5 * 600
	expect(log).toEqual(['0 GET /a', '150 GET /a', '450 GET /a']);
	vi.restoreAllMocks();
});

test('retry - a write sleeping before its retry holds its lane but no global slot', async () => {
	const {log, fetchImpl} = scriptedFetch({'/a': [() => new Response(null, {status: 503})]});
	const lanes = createLanes({concurrency: 1, retry: {backoff: () => 1000}});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const first = laneFetch('https://api.test/a', {method: 'PUT', body: '1'});
	const sameLane = laneFetch('https://api.test/a', {method: 'PUT', body: '2'});
	await vi.advanceTimersByTimeAsync(0);
	const otherLane = laneFetch('https://api.test/b', {method: 'PUT', body: '3'});
	await vi.advanceTimersByTimeAsync(10);
	expect(log).toEqual(['0 PUT /a', '0 PUT /b']);
	await vi.advanceTimersByTimeAsync(990);
	await Promise.all([first, sameLane, otherLane]);
	expect(log).toEqual(['0 PUT /a', '0 PUT /b', '1000 PUT /a', '1000 PUT /a']);
});

test('retry - aborting during the retry delay rejects with the reason and frees the lane', async () => {
	const {log, fetchImpl} = scriptedFetch({'/a': [() => new Response(null, {status: 503})]});
	const lanes = createLanes({retry: {backoff: () => 1000}});
	const laneFetch = lanes.wrapFetch(fetchImpl);
	const controller = new AbortController();
	const first = laneFetch('https://api.test/a', {method: 'PUT', signal: controller.signal});
	const next = laneFetch('https://api.test/a', {method: 'PUT'});
	await vi.advanceTimersByTimeAsync(10);
	const reason = new Error('stop');
	controller.abort(reason);
	await expect(first).rejects.toBe(reason);
	expect((await next).status).toBe(200);
	expect(log).toEqual(['0 PUT /a', '10 PUT /a']);
	expect(vi.getTimerCount()).toBe(0);
});

test('retry - `retry: false` sends each request once', async () => {
	const {log, fetchImpl} = scriptedFetch({'/a': [() => new Response(null, {status: 503})]});
	const lanes = createLanes({retry: false});
	expect((await lanes.wrapFetch(fetchImpl)('https://api.test/a')).status).toBe(503);
	expect(log).toEqual(['0 GET /a']);
});

test('retry - invalid retry options name the option', () => {
	expect(() => createLanes({retry: {limit: -1}})).toThrow('Expected `retry.limit` to be an integer >= 0, got `-1` (number)');
	expect(() => createLanes({retry: {methods: ['GET', '']}})).toThrow('Expected `retry.methods` to be an array of method names, got `[array of 2]` (array)');
	expect(() => createLanes({retry: {statusCodes: [700]}})).toThrow('Expected `retry.statusCodes` to be an array of HTTP status codes, got `[array of 1]` (array)');
	expect(() => createLanes({retry: {backoff: {base: -5}}})).toThrow('Expected `retry.backoff.base` to be a finite number of milliseconds >= 0, got `-5` (number)');
	expect(() => createLanes({retry: {maxRetryAfter: Number.NaN}})).toThrow('Expected `retry.maxRetryAfter` to be a number >= 0 or `false`, got `NaN` (number)');
	expect(() => createLanes({retry: 'yes' as never})).toThrow('Expected `retry` to be an object, a number or `false`, got `"yes"` (string)');
});
