// An HTTP server on 127.0.0.1 that rate-limits like real APIs do, for the pacing tests and
// `npm run bench:pacing`: one quota per token and endpoint (`METHOD /path`, as Capacities counts),
// enforced by a real limiter algorithm and announced in one generation of rate-limit header fields.
//
// Algorithms:
// - 'fixed-window': rate-limiter-flexible's RateLimiterMemory. A window opens with the first request
//   after the last one ended; `reset` is the time until it ends.
// - 'token-bucket': limiter's TokenBucket, starting full and refilling `limit` per `windowMs`
//   continuously; `reset` is the time until the bucket is full again.
// - 'sliding-window': a sliding log (at most `limit` requests in any `windowMs`); `reset` is the time
//   until the oldest counted request leaves the window, which may give back a single unit. Neither
//   library has an in-memory sliding window, so this one is written here (a dozen lines).
//
// Header generations (every reset in whole seconds, rounded up, as express-rate-limit does):
// - 'draft-6': `RateLimit-Policy: 10;w=2`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
// - 'draft-7': `RateLimit-Policy: 10;w=2`, `RateLimit: limit=10, remaining=9, reset=2`
// - 'draft-8': `RateLimit-Policy: "q";q=10;w=2`, `RateLimit: "q";r=9;t=2`
// - 'x-ratelimit': `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds)
// A 429 also carries `Retry-After` (seconds until a request would be admitted again).
//
// Writes carry `{id, client, seq}` in a JSON body; the server records, per object, the writes it
// applied (2xx) in the order it applied them, so a test can check order and completeness.

import {createServer} from 'node:http';
import {TokenBucket} from 'limiter';
import {RateLimiterMemory, RateLimiterRes} from 'rate-limiter-flexible';

export const algorithms = ['fixed-window', 'sliding-window', 'token-bucket'];
export const generations = ['draft-6', 'draft-7', 'draft-8', 'x-ratelimit'];

/** `{allowed, remaining, resetMs, retryAfterMs}` for one request of `key`. */
function fixedWindow(limit, windowMs) {
	const limiter = new RateLimiterMemory({points: limit, duration: windowMs / 1000});
	return async key => {
		let result;
		let allowed = true;
		try {
			result = await limiter.consume(key);
		} catch (error) {
			if (!(error instanceof RateLimiterRes)) {
				throw error;
			}

			result = error;
			allowed = false;
		}

		return {allowed, remaining: result.remainingPoints, resetMs: result.msBeforeNext, retryAfterMs: result.msBeforeNext};
	};
}

function tokenBucket(limit, windowMs) {
	const buckets = new Map();
	const perMs = limit / windowMs;
	return key => {
		let bucket = buckets.get(key);
		if (bucket === undefined) {
			bucket = new TokenBucket({bucketSize: limit, tokensPerInterval: limit, interval: windowMs});
			// A client's bucket starts full.
			bucket.content = limit;
			buckets.set(key, bucket);
		}

		const allowed = bucket.tryRemoveTokens(1);
		// tryRemoveTokens() dripped: `content` is current.
		const {content} = bucket;
		return {
			allowed,
			remaining: Math.floor(content),
			resetMs: (limit - content) / perMs,
			retryAfterMs: allowed ? 0 : (1 - content) / perMs,
		};
	};
}

function slidingWindow(limit, windowMs) {
	const logs = new Map();
	return key => {
		const now = Date.now();
		const log = (logs.get(key) ?? []).filter(time => time > now - windowMs);
		logs.set(key, log);
		const allowed = log.length < limit;
		if (allowed) {
			log.push(now);
		}

		const untilOldestLeaves = log.length === 0 ? 0 : log[0] + windowMs - now;
		return {allowed, remaining: limit - log.length, resetMs: untilOldestLeaves, retryAfterMs: untilOldestLeaves};
	};
}

const makers = {'fixed-window': fixedWindow, 'token-bucket': tokenBucket, 'sliding-window': slidingWindow};

const seconds = ms => Math.max(0, Math.ceil(ms / 1000));

/** The rate-limit fields of one answer, in `generation`. */
export function rateLimitFields(generation, {limit, windowMs, remaining, resetMs}) {
	const w = Math.max(1, seconds(windowMs));
	const reset = seconds(resetMs);
	switch (generation) {
		case 'draft-6': {
			return {'RateLimit-Policy': `${limit};w=${w}`, 'RateLimit-Limit': `${limit}`, 'RateLimit-Remaining': `${remaining}`, 'RateLimit-Reset': `${reset}`};
		}

		case 'draft-7': {
			return {'RateLimit-Policy': `${limit};w=${w}`, RateLimit: `limit=${limit}, remaining=${remaining}, reset=${reset}`};
		}

		case 'draft-8': {
			return {'RateLimit-Policy': `"quota";q=${limit};w=${w}`, RateLimit: `"quota";r=${remaining};t=${reset}`};
		}

		case 'x-ratelimit': {
			return {
				'X-RateLimit-Limit': `${limit}`,
				'X-RateLimit-Remaining': `${remaining}`,
				'X-RateLimit-Reset': `${Math.ceil((Date.now() + resetMs) / 1000)}`,
			};
		}

		default: {
			throw new TypeError(`Unknown header generation ${generation}`);
		}
	}
}

/**
Starts the server. `limit` requests per `windowMs` for each token and endpoint; `latencyMs` before
each answer. Resolves to `{url, token, log, close()}`; `log` counts requests and 429s (in total,
per endpoint and per client) and holds, per object id, the writes applied as `client:seq`.
*/
export async function startLimiterServer({algorithm = 'fixed-window', generation = 'draft-7', limit = 10, windowMs = 500, latencyMs = 0} = {}) {
	const make = makers[algorithm];
	if (make === undefined) {
		throw new TypeError(`Unknown limiter algorithm ${algorithm}`);
	}

	const take = make(limit, windowMs);
	const token = 'cap-api-pacing';
	const log = {
		requests: 0,
		tooMany: 0,
		/** `METHOD /path` → {requests, tooMany}. */
		endpoints: new Map(),
		/** Client name → {requests, tooMany}. */
		clients: new Map(),
		/** Object id → ['client:seq', …] in the order applied. */
		applied: new Map(),
	};
	const count = (map, key, tooMany) => {
		const entry = map.get(key) ?? {requests: 0, tooMany: 0};
		entry.requests++;
		entry.tooMany += tooMany ? 1 : 0;
		map.set(key, entry);
	};

	const server = createServer((request, response) => {
		const chunks = [];
		request.on('data', chunk => chunks.push(chunk));
		request.on('end', async () => {
			const {pathname} = new URL(request.url ?? '/', 'http://127.0.0.1');
			const endpoint = `${request.method} ${pathname}`;
			const auth = request.headers.authorization ?? '';
			let body = {};
			try {
				body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
			} catch {}

			const decision = await take(`${auth} ${endpoint}`);
			log.requests++;
			log.tooMany += decision.allowed ? 0 : 1;
			count(log.endpoints, endpoint, !decision.allowed);
			count(log.clients, String(body.client ?? 'anonymous'), !decision.allowed);
			if (decision.allowed && typeof body.id === 'string') {
				const writes = log.applied.get(body.id) ?? [];
				writes.push(`${body.client}:${body.seq}`);
				log.applied.set(body.id, writes);
			}

			const headers = {'content-type': 'application/json', ...rateLimitFields(generation, {limit, windowMs, ...decision})};
			if (!decision.allowed) {
				headers['Retry-After'] = String(Math.max(1, seconds(decision.retryAfterMs)));
			}

			const reply = () => {
				response.writeHead(decision.allowed ? 200 : 429, headers);
				response.end(decision.allowed ? '{"ok":true}' : '{"code":"cap_rate_limit_exceeded","message":"Too many requests"}');
			};

			if (latencyMs > 0) {
				setTimeout(reply, latencyMs);
			} else {
				reply();
			}
		});
	});

	await new Promise(resolve => {
		server.listen(0, '127.0.0.1', resolve);
	});
	const {port} = server.address();
	return {
		url: `http://127.0.0.1:${port}`,
		token,
		log,
		close() {
			server.closeAllConnections();
			return new Promise(resolve => {
				server.close(() => resolve());
			});
		},
	};
}
