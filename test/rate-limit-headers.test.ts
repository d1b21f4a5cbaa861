import fc from 'fast-check';
import {expect, test} from 'vitest';
import {parseRateLimit, parseRetryAfter, retryAfterWins} from '../src/pacing/rate-limit-headers.js';

const now = 1_700_000_000_000;

function parse(fields: Record<string, string> | Array<[string, string]>) {
	return parseRateLimit(new Headers(fields), now);
}

test('parseRateLimit() - no rate-limit fields is undefined', () => {
	expect(parse({})).toBeUndefined();
	expect(parse({'content-type': 'application/json', 'retry-after': '30'})).toBeUndefined();
});

test('parseRateLimit() - drafts 08+: the RateLimit item joined with its RateLimit-Policy by name', () => {
	expect(parse({'RateLimit-Policy': '"default";q=100;w=10', RateLimit: '"default";r=50;t=30'})).toEqual({
		limit: 100,
		remaining: 50,
		resetAt: now + 30_000,
		window: 10_000,
		policy: 'default',
		source: 'draft-08',
	});
});

test('parseRateLimit() - drafts 08+: without RateLimit-Policy the limit and window are unknown', () => {
	expect(parse({RateLimit: '"default";r=0;t=7'})).toEqual({remaining: 0, resetAt: now + 7000, policy: 'default', source: 'draft-08'});
});

test('parseRateLimit() - drafts 08+: whitespace, case, parameter order, token names and escaped quotes', () => {
	expect(parse({'ratelimit-policy': ' "Per \\"min\\"" ; W=60 ;Q=50 ', ratelimit: '  "Per \\"min\\""  ;  T = 12 ; R = 3  '})).toEqual({
		limit: 50,
		remaining: 3,
		resetAt: now + 12_000,
		window: 60_000,
		policy: 'Per "min"',
		source: 'draft-08',
	});
	expect(parse({'RateLimit-Policy': 'burst;q=10;w=1', RateLimit: 'burst;t=1;r=9'})).toMatchObject({limit: 10, remaining: 9, policy: 'burst'});
	// Policy names match regardless of case; partition keys and unknown parameters are skipped over.
	expect(parse({'RateLimit-Policy': '"PerUser";q=100;w=60;pk=:cHsdsRa894==:', RateLimit: '"peruser";r=5;t=9;pk=:cHsdsRa894==;x=1:;acme-burst=?1'})).toEqual({
		limit: 100,
		remaining: 5,
		resetAt: now + 9000,
		window: 60_000,
		policy: 'peruser',
		source: 'draft-08',
	});
});

test('parseRateLimit() - drafts 08+: of several policies the lowest remaining wins, then the latest reset', () => {
	const policy = '"burst";q=100;w=60, "daily";q=1000;w=86400';
	expect(parse({'RateLimit-Policy': policy, RateLimit: '"burst";r=90;t=30, "daily";r=5;t=3600'})).toMatchObject({policy: 'daily', remaining: 5});
	expect(parse({'RateLimit-Policy': policy, RateLimit: '"burst";r=5;t=30, "daily";r=5;t=3600'})).toMatchObject({policy: 'daily', resetAt: now + 3_600_000});
	expect(parse({'RateLimit-Policy': policy, RateLimit: '"daily";r=5;t=20, "burst";r=5;t=30'})).toMatchObject({policy: 'burst', resetAt: now + 30_000});
});

test('parseRateLimit() - drafts 08+: lists split over several field lines are one list', () => {
	expect(
		parse([
			['RateLimit-Policy', '"a";q=10;w=60'],
			['RateLimit-Policy', '"b";q=20;w=60'],
			['RateLimit', '"a";r=8;t=50'],
			['RateLimit', '"b";r=2;t=50'],
		]),
	).toEqual({limit: 20, remaining: 2, resetAt: now + 50_000, window: 60_000, policy: 'b', source: 'draft-08'});
});

test('parseRateLimit() - drafts 08+: without `t` a full policy window is assumed; without either the item is unusable', () => {
	expect(parse({'RateLimit-Policy': '"p";q=10;w=60', RateLimit: '"p";r=4'})).toEqual({
		limit: 10,
		remaining: 4,
		resetAt: now + 60_000,
		window: 60_000,
		policy: 'p',
		source: 'draft-08',
	});
	expect(parse({RateLimit: '"trial";r=999;pk=:dHJpYWwxMjEzMjM=:'})).toBeUndefined();
});

test('parseRateLimit() - drafts 08+: quotas not counted in requests are skipped', () => {
	const headers = {'RateLimit-Policy': '"bytes";q=65535;qu="content-bytes";w=10, "req";q=10;w=60', RateLimit: '"bytes";r=0;t=5, "req";r=7;t=40'};
	expect(parse(headers)).toMatchObject({policy: 'req', remaining: 7});
	expect(parse({'RateLimit-Policy': '"c";q=5;qu="concurrent-requests"', RateLimit: '"c";r=0;t=1'})).toBeUndefined();
});

test('parseRateLimit() - draft 07: the Capacities form, with and without RateLimit-Policy', () => {
	expect(parse({RateLimit: 'limit=5, remaining=4, reset=58'})).toEqual({limit: 5, remaining: 4, resetAt: now + 58_000, source: 'draft-07'});
	expect(parse({RateLimit: 'limit=100, remaining=50, reset=5', 'RateLimit-Policy': '10;w=1, 100;w=10'})).toEqual({
		limit: 100,
		remaining: 50,
		resetAt: now + 5000,
		window: 10_000,
		source: 'draft-07',
	});
});

test('parseRateLimit() - draft 07: any key order and case, spaces, and `;` written for `,`', () => {
	const expected = {limit: 5, remaining: 4, resetAt: now + 58_000, source: 'draft-07'};
	expect(parse({ratelimit: 'reset=58,remaining=4,limit=5'})).toEqual(expected);
	expect(parse({RATELIMIT: '  Limit = 5 ,\tREMAINING=4 , reset= 58  '})).toEqual(expected);
	expect(parse({RateLimit: 'limit=5; remaining=4; reset=58'})).toEqual(expected);
	expect(parse({RateLimit: 'limit=5, remaining=4, reset=58, acme-burst=10, policy="x"'})).toEqual(expected);
});

test('parseRateLimit() - draft 07: several RateLimit lines are several quotas; the most restrictive wins', () => {
	const headers = [
		['RateLimit', 'limit=100, remaining=50, reset=30'],
		['RateLimit', 'limit=10000, remaining=9, reset=200'],
	] satisfies Array<[string, string]>;
	expect(parse(headers)).toEqual({limit: 10_000, remaining: 9, resetAt: now + 200_000, source: 'draft-07'});
});

test('parseRateLimit() - draft 07: without `remaining`, or without `reset` and a window, the field is unusable', () => {
	expect(parse({RateLimit: 'limit=5, reset=58'})).toBeUndefined();
	expect(parse({RateLimit: 'limit=5, remaining=3'})).toBeUndefined();
	expect(parse({RateLimit: 'limit=5, remaining=3', 'RateLimit-Policy': '5;w=60'})).toEqual({
		limit: 5,
		remaining: 3,
		resetAt: now + 60_000,
		window: 60_000,
		source: 'draft-07',
	});
});

test('parseRateLimit() - separate RateLimit-Limit, -Remaining and -Reset fields', () => {
	expect(parse({'RateLimit-Limit': '100', 'RateLimit-Remaining': '50', 'RateLimit-Reset': '30'})).toEqual({
		limit: 100,
		remaining: 50,
		resetAt: now + 30_000,
		source: 'separate',
	});
	// The older beta form: policies in RateLimit-Limit or in RateLimit-Policy give the window.
	expect(parse({'RateLimit-Limit': '10, 10;w=1, 50;w=60', 'RateLimit-Remaining': '9', 'RateLimit-Reset': '1'})).toEqual({
		limit: 10,
		remaining: 9,
		resetAt: now + 1000,
		window: 1000,
		source: 'separate',
	});
	expect(parse({'RateLimit-Policy': '120;w=60', 'RateLimit-Limit': '120', 'RateLimit-Remaining': '119', 'RateLimit-Reset': '59'})).toEqual({
		limit: 120,
		remaining: 119,
		resetAt: now + 59_000,
		window: 60_000,
		source: 'separate',
	});
	expect(parse({'RateLimit-Remaining': '0', 'RateLimit-Reset': '12'})).toEqual({remaining: 0, resetAt: now + 12_000, source: 'separate'});
});

test('parseRateLimit() - X-RateLimit-*: delta seconds, Unix seconds (GitHub), Unix milliseconds, fractions', () => {
	expect(parse({'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '59', 'X-RateLimit-Reset': '60'})).toEqual({
		limit: 60,
		remaining: 59,
		resetAt: now + 60_000,
		source: 'x-ratelimit',
	});
	expect(parse({'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': String(now / 1000 + 3600)})).toEqual({
		limit: 5000,
		remaining: 4999,
		resetAt: now + 3_600_000,
		source: 'x-ratelimit',
	});
	expect(parse({'X-RateLimit-Remaining': '3', 'X-RateLimit-Reset': String(now + 1500)})).toEqual({remaining: 3, resetAt: now + 1500, source: 'x-ratelimit'});
	expect(parse({'X-RateLimit-Remaining': '3', 'X-RateLimit-Reset': `${now / 1000 + 2}.250`})).toEqual({
		remaining: 3,
		resetAt: now + 2250,
		source: 'x-ratelimit',
	});
	expect(parse({'X-RateLimit-Remaining': '1', 'X-RateLimit-Reset': '0.5'})).toEqual({remaining: 1, resetAt: now + 500, source: 'x-ratelimit'});
	expect(parse({'x-rate-limit-limit': '15', 'x-rate-limit-remaining': '14', 'x-rate-limit-reset': String(now / 1000 + 900)})).toEqual({
		limit: 15,
		remaining: 14,
		resetAt: now + 900_000,
		source: 'x-ratelimit',
	});
});

test('parseRateLimit() - a fractional remaining rounds down, a reset in the past stays in the past', () => {
	expect(parse({'X-RateLimit-Remaining': '2.9', 'X-RateLimit-Reset': String(now / 1000 - 10)})).toEqual({
		remaining: 2,
		resetAt: now - 10_000,
		source: 'x-ratelimit',
	});
});

test('parseRateLimit() - generations are preferred newest first, an unusable one falls through to the next', () => {
	const all = {
		'RateLimit-Policy': '"p";q=10;w=60',
		RateLimit: '"p";r=1;t=10',
		'RateLimit-Limit': '20',
		'RateLimit-Remaining': '2',
		'RateLimit-Reset': '20',
		'X-RateLimit-Limit': '30',
		'X-RateLimit-Remaining': '3',
		'X-RateLimit-Reset': '30',
	};
	expect(parse(all)?.source).toBe('draft-08');
	expect(parse({...all, RateLimit: 'limit=40, remaining=4, reset=40'})?.source).toBe('draft-07');
	expect(parse({...all, RateLimit: 'garbage'})?.source).toBe('separate');
	expect(parse({...all, RateLimit: 'garbage', 'RateLimit-Remaining': '-1'})).toEqual({
		limit: 30,
		remaining: 3,
		resetAt: now + 30_000,
		source: 'x-ratelimit',
	});
});

test('parseRateLimit() - garbage is undefined', () => {
	const garbage: Array<Record<string, string>> = [
		{RateLimit: ''},
		{RateLimit: ','},
		{RateLimit: 'limit=five, remaining=four, reset=58'},
		{RateLimit: 'limit=5, remaining=-1, reset=58'},
		{RateLimit: 'limit=5, remaining=4, reset=-3'},
		{RateLimit: 'limit=5, remaining=4x, reset=58'},
		{RateLimit: 'limit=5, remaining=4, reset=1e3'},
		{RateLimit: 'limit=5, remaining=?1, reset=58'},
		{RateLimit: 'limit=5, remaining=:NA==:, reset=58'},
		{RateLimit: '"unterminated;r=5;t=5'},
		{RateLimit: '"p";r=;t=5'},
		{RateLimit: '"p";r=5;t=5 trailing'},
		{RateLimit: '"p";;r=5;t=5'},
		{RateLimit: '"p" r=5'},
		{RateLimit: `"p";r=1;t=${'9'.repeat(30)}`},
		{RateLimit: `"p";r=${'9'.repeat(16)};t=5`},
		{RateLimit: '=5'},
		{'RateLimit-Remaining': 'NaN', 'RateLimit-Reset': '5'},
		{'RateLimit-Remaining': 'Infinity', 'RateLimit-Reset': '5'},
		{'RateLimit-Remaining': '5', 'RateLimit-Reset': 'Sun, 06 Nov 1994 08:49:37 GMT'},
		{'X-RateLimit-Remaining': '', 'X-RateLimit-Reset': '5'},
		{'X-RateLimit-Remaining': '0x10', 'X-RateLimit-Reset': '5'},
		// A reset more than 400 days away is not a quota anyone can wait for.
		{'X-RateLimit-Remaining': '1', 'X-RateLimit-Reset': String(now / 1000 + 500 * 86_400)},
	];
	for (const fields of garbage) {
		expect([fields, parse(fields)]).toEqual([fields, undefined]);
	}
});

test('parseRateLimit() - never throws, and whatever it returns is usable', () => {
	const names = ['RateLimit', 'RateLimit-Policy', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];
	const piece = fc.constantFrom('limit', 'remaining', 'reset', '"p"', 'p', 'r', 't', 'q', 'w', '=', ';', ',', ' ', '"', '\\', ':', '?1', '-', '.', '5', '0', '1700000000', 'é');
	const value = fc.oneof(fc.string(), fc.array(piece, {maxLength: 20}).map(pieces => pieces.join('')));
	fc.assert(
		fc.property(fc.dictionary(fc.constantFrom(...names), value), fields => {
			const result = parseRateLimit(new Headers(fields), now);
			if (result !== undefined) {
				expect(Number.isInteger(result.remaining) && result.remaining >= 0).toBe(true);
				expect(Number.isFinite(result.resetAt)).toBe(true);
				expect(result.limit === undefined || (Number.isInteger(result.limit) && result.limit >= 0)).toBe(true);
				expect(result.window === undefined || result.window > 0).toBe(true);
			}
		}),
		{numRuns: 2000},
	);
});

test('retryAfterWins() - a Retry-After next to rate-limit fields decides when the bucket may start again', () => {
	const info = parse({RateLimit: 'limit=10, remaining=5, reset=30'});
	expect(info).toBeDefined();
	if (info === undefined) {
		return;
	}

	expect(retryAfterWins(info, parseRetryAfter('5', now), now)).toEqual({limit: 10, remaining: 0, resetAt: now + 5000, source: 'draft-07'});
	expect(retryAfterWins(info, parseRetryAfter(null, now), now)).toBe(info);
});
