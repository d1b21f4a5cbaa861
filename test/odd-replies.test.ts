import nock from 'nock';
import {afterAll, afterEach, beforeAll, expect, test} from 'vitest';
import {createLanes, type LaneEvent} from '../src/index.js';

// Unit-level stubs for replies a real server rarely gives on demand; the end-to-end proof is test/e2e.test.ts.
beforeAll(() => {
	nock.disableNetConnect();
});

afterEach(() => {
	nock.cleanAll();
});

afterAll(() => {
	nock.enableNetConnect();
	nock.restore();
});

const origin = 'https://odd.example';

function retries(lanes: ReturnType<typeof createLanes>) {
	const seen: LaneEvent[] = [];
	lanes.on('retry', event => seen.push(event));
	return seen;
}

test('odd replies - a 503 whose Retry-After is an HTTP date in the past is retried at once', async () => {
	const scope = nock(origin)
		.put('/objects/1')
		.reply(503, '', {'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT'})
		.put('/objects/1')
		.reply(200, '{"ok":true}');
	const lanes = createLanes();
	const seen = retries(lanes);
	const response = await lanes.fetch(`${origin}/objects/1`, {method: 'PUT', body: '{}'});
	expect(await response.json()).toEqual({ok: true});
	expect(seen).toMatchObject([{status: 503, delayMs: 0}]);
	expect(scope.isDone()).toBe(true);
});

test('odd replies - a 429 with an unparsable Retry-After falls back to the backoff', async () => {
	const scope = nock(origin).post('/blocks').reply(429, '', {'retry-after': 'soon'}).post('/blocks').reply(201);
	const lanes = createLanes({retry: {backoff: () => 7}});
	const seen = retries(lanes);
	expect((await lanes.fetch(`${origin}/blocks`, {method: 'POST', body: '{}'})).status).toBe(201);
	expect(seen).toMatchObject([{status: 429, delayMs: 7}]);
	expect(scope.isDone()).toBe(true);
});

test('odd replies - a connection error on a GET is retried; the error event carries no credentials', async () => {
	const scope = nock(origin).get('/objects/2').query(true).replyWithError('socket hang up').get('/objects/2').query(true).reply(200, 'fine');
	const lanes = createLanes({retry: {backoff: () => 0}});
	const events: LaneEvent[] = [];
	lanes.on('*', event => events.push(event));
	const response = await lanes.fetch(`${origin}/objects/2?token=query-secret`, {headers: {authorization: 'Bearer header-secret'}});
	expect(await response.text()).toBe('fine');
	expect(events.filter(event => event.type === 'retry')).toHaveLength(1);
	expect(JSON.stringify(events, (_key, value: unknown) => (value instanceof Error ? value.message : value))).not.toMatch(/secret/);
	expect(scope.isDone()).toBe(true);
});

test('odd replies - a 502 with an empty body is retried for a DELETE and handed back after the limit', async () => {
	const scope = nock(origin).delete('/objects/3').times(3).reply(502);
	const lanes = createLanes({retry: {limit: 2, backoff: () => 0}});
	expect((await lanes.fetch(`${origin}/objects/3`, {method: 'DELETE'})).status).toBe(502);
	expect(scope.isDone()).toBe(true);
});
