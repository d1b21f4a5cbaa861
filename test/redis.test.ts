import {readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {Redis} from 'ioredis';
import {afterAll, beforeAll, expect, test} from 'vitest';
import {type BackendError, createLanes, isBackendError, type Lease} from '../src/index.js';
import {redisBackend, type RedisBackend, type RedisBackendOptions} from '../src/redis.js';
import {backendContract} from './backend-contract.js';
import {deferred, flush, track} from './helpers.js';
import {partitionable, startRedis, type TestRedis} from './redis-server.js';

let redis: TestRedis;
let spaces = 0;
const leaseMs = 2000;
const made: RedisBackend[] = [];

beforeAll(async () => {
	redis = await startRedis();
	// A fresh Redis grants nothing during its first lease (it cannot know leases of an earlier run).
	const backend = redisBackend({client: redis.client(), leaseMs});
	await (await backend.acquire(['warm-up'], {kind: 'write'})).release();
	await backend.close();
});

afterAll(async () => {
	await redis?.stop();
});

backendContract('redisBackend()', {
	async peers(count) {
		const prefix = `contract${++spaces}:`;
		const backends = Array.from({length: count}, () => redisBackend({client: redis.client(), prefix, leaseMs}));
		made.push(...backends);
		return backends;
	},
	async cleanup() {
		await Promise.all(made.splice(0).map(async backend => backend.close()));
	},
});

// --- Options, idle state ----------------------------------------------------------------------

test('redisBackend() - invalid options get a precise TypeError', () => {
	const client = redis.client({lazyConnect: true});
	expect(() => redisBackend(undefined as unknown as RedisBackendOptions)).toThrow(new TypeError('Expected `options` to be an object, got `undefined` (undefined)'));
	expect(() => redisBackend({client: {} as Redis})).toThrow(new TypeError('Expected `client` to be an ioredis client, got `[Object]` (object)'));
	expect(() => redisBackend({client, prefix: 3 as unknown as string})).toThrow(new TypeError('Expected `prefix` to be a string, got `3` (number)'));
	expect(() => redisBackend({client, leaseMs: 0})).toThrow(new TypeError('Expected `leaseMs` to be an integer number of milliseconds from 30 to 2147483647, got `0` (number)'));
	expect(() => redisBackend({client, leaseMs: 1000, commandTimeout: 1000})).toThrow(
		new TypeError('Expected `commandTimeout` to be an integer number of milliseconds from 1 to below `leaseMs` (1000), got `1000` (number)'),
	);
	expect(() => redisBackend({client, subscriber: 'x' as unknown as Redis})).toThrow(new TypeError('Expected `subscriber` to be an ioredis client, got `"x"` (string)'));
	expect(() => redisBackend({client, restartGrace: 1 as unknown as boolean})).toThrow(new TypeError('Expected `restartGrace` to be a boolean, got `1` (number)'));
});

/** Every key under `prefix` with its remaining time to live in ms (-1: none). */
async function keysUnder(client: Redis, prefix: string): Promise<Record<string, number>> {
	const found: Record<string, number> = {};
	for (const key of await client.keys(`${prefix}*`)) {
		found[key.slice(prefix.length)] = await client.pttl(key);
	}

	return found;
}

test('redisBackend() - once the lanes are idle, Redis keeps no per-key state: only the ticket counter, expiring', async () => {
	const prefix = `idle${++spaces}:`;
	const client = redis.client();
	const lanes = [0, 1].map(() => createLanes({backend: redisBackend({client: redis.client(), prefix, leaseMs}), reads: 'shared'}));
	await Promise.all(
		Array.from({length: 40}, (_, index) => {
			const instance = lanes[index % 2]!;
			const key = [`objects/${index % 5}`, `objects/${index % 5}/blocks/${index % 3}`, 'objects', [`objects/${index % 5}`, 'spaces/1']][index % 4]!;
			return index % 7 === 0 ? instance.read(key, async () => flush()) : instance.write(key, async () => flush());
		}),
	);
	await Promise.all(lanes.map(async instance => instance.close()));
	const left = await keysUnder(client, prefix);
	expect(Object.keys(left)).toEqual(['seq']);
	expect(left.seq).toBeGreaterThan(0);
	expect(left.seq).toBeLessThanOrEqual(3 * leaseMs);
});

test('close() - a pending acquire rejects with BackendError, a held lease aborts and is released, and nothing more is granted', async () => {
	const prefix = `close${++spaces}:`;
	const [closing, other] = [0, 1].map(() => redisBackend({client: redis.client(), prefix, leaseMs}));
	try {
		const held = await closing!.acquire(['objects/1'], {kind: 'write'});
		const pending = closing!.acquire(['objects/1'], {kind: 'write'}).catch((error: unknown) => error);
		const next = other!.acquire(['objects/1'], {kind: 'write'});
		await closing!.close();
		expect(isBackendError(await pending)).toBe(true);
		expect(held.signal?.aborted).toBe(true);
		// The held lease went back to Redis: the other backend's request gets the lane.
		await (await next).release();
		expect(isBackendError(await closing!.acquire(['objects/2'], {kind: 'write'}).catch((error: unknown) => error))).toBe(true);
	} finally {
		await other!.close();
	}
});

// --- Hand-off ---------------------------------------------------------------------------------

test('a waiter is woken by the release itself, not by its own checks (those come only every leaseMs / 3 = 200 s here)', async () => {
	const prefix = `wake${++spaces}:`;
	const [a, b] = [0, 1].map(() => redisBackend({client: redis.client(), prefix, leaseMs: 600_000, restartGrace: false}));
	try {
		let lease = await a!.acquire(['objects/1'], {kind: 'write'});
		for (let round = 0; round < 10; round++) {
			const next = (round % 2 === 0 ? b! : a!).acquire(['objects/1'], {kind: 'write'});
			await (await (round % 2 === 0 ? b! : a!).acquire([`barrier/${round}`], {kind: 'write'})).release();
			await lease.release();
			lease = await next;
		}

		await lease.release();
	} finally {
		await Promise.all([a!.close(), b!.close()]);
	}
});

test('a lost notification costs latency, not the lane: a waiter whose subscriber hears nothing gets its turn from its own check', async () => {
	const elsewhere = await startRedis();
	const prefix = `deaf${++spaces}:`;
	const holder = redisBackend({client: redis.client(), prefix, leaseMs: 600});
	// Its notifications go to another server, so it never hears of a hand-off.
	const deaf = redisBackend({client: redis.client(), prefix, leaseMs: 600, subscriber: elsewhere.client()});
	try {
		const held = await holder.acquire(['objects/1'], {kind: 'write'});
		const waiting = deaf.acquire(['objects/1'], {kind: 'write'});
		await (await deaf.acquire(['barrier/deaf'], {kind: 'write'})).release();
		await held.release();
		await (await waiting).release();
	} finally {
		await Promise.all([holder.close(), deaf.close()]);
		await elsewhere.stop();
	}
});

// --- Failures ---------------------------------------------------------------------------------

test('Redis unreachable: acquire() and lanes writes reject with BackendError (cause set), the write never runs, parallel reads still do', async () => {
	const nowhere = await startRedis();
	const port = nowhere.port;
	await nowhere.stop();
	const client = new Redis({port, host: '127.0.0.1'});
	client.on('error', () => undefined);
	try {
		const backend = redisBackend({client, leaseMs: 1000, commandTimeout: 100});
		const failure = await backend.acquire(['objects/1'], {kind: 'write'}).catch((error: unknown) => error);
		expect(isBackendError(failure)).toBe(true);
		expect((failure as Error).cause).toBeDefined();

		const lanes = createLanes({backend});
		let ran = false;
		const error = await lanes
			.write('objects/1', () => {
				ran = true;
			})
			.catch((error_: unknown) => error_);
		expect(isBackendError(error)).toBe(true);
		expect((error as BackendError).cause).toBeDefined();
		expect(ran).toBe(false);
		// Parallel reads never wait for a lane, so they never ask Redis.
		expect(await lanes.read('objects/1', () => 'read')).toBe('read');
		await lanes.close();
	} finally {
		client.disconnect();
	}
});

/** Logs `abort:<name>` with the reason when the lease is lost. */
function watch(log: string[], name: string, lease: Lease, reasons: unknown[] = []) {
	lease.signal?.addEventListener(
		'abort',
		() => {
			log.push(`abort:${name}`);
			reasons.push(lease.signal?.reason);
		},
		{once: true},
	);
}

test('a lease that expires mid-operation (its holder cut off from Redis): its signal aborts, then the next holder gets the lane with a higher token', async () => {
	const prefix = `expiry${++spaces}:`;
	const partition = await partitionable(redis.port);
	const cutClient = new Redis({port: partition.port, host: '127.0.0.1'});
	cutClient.on('error', () => undefined);
	const holder = redisBackend({client: cutClient, prefix, leaseMs: 1000, commandTimeout: 200});
	const next = redisBackend({client: redis.client(), prefix, leaseMs: 1000});
	const third = redisBackend({client: redis.client(), prefix, leaseMs: 1000});
	try {
		const log: string[] = [];
		const reasons: unknown[] = [];
		const first = await holder.acquire(['objects/1'], {kind: 'write'});
		log.push('grant:holder');
		watch(log, 'holder', first, reasons);
		const waiting = next.acquire(['objects/1'], {kind: 'write'}).then(lease => {
			log.push('grant:next');
			return lease;
		});
		partition.cut();
		const second = await waiting;
		expect(log).toEqual(['grant:holder', 'abort:holder', 'grant:next']);
		expect(isBackendError(reasons[0])).toBe(true);
		expect((reasons[0] as Error).message).toMatch(/^Lost the lease on lane `objects\/1`: /);
		expect(second.fencingToken).toBeGreaterThan(first.fencingToken);

		// The old holder's late release (compare-and-delete) cannot free the new holder's lane.
		partition.heal();
		await first.release();
		const later = third.acquire(['objects/1'], {kind: 'write'});
		const after = track(later);
		await (await third.acquire(['barrier/expiry'], {kind: 'write'})).release();
		await flush();
		expect(after.outcome.status).toBe('pending');
		await second.release();
		await (await later).release();
	} finally {
		await Promise.all([holder.close(), next.close(), third.close()]);
		cutClient.disconnect();
		await partition.close();
	}
});

test('through lanes: a lease lost mid-write aborts context.signal, fires an error event (phase lease) and fails the write with BackendError; the other process writes next with a higher token', async () => {
	const prefix = `lanes-expiry${++spaces}:`;
	const partition = await partitionable(redis.port);
	const cutClient = new Redis({port: partition.port, host: '127.0.0.1'});
	cutClient.on('error', () => undefined);
	const cut = createLanes({backend: redisBackend({client: cutClient, prefix, leaseMs: 1000, commandTimeout: 200})});
	const otherBackend = redisBackend({client: redis.client(), prefix, leaseMs: 1000});
	const other = createLanes({backend: otherBackend});
	try {
		const log: string[] = [];
		const events: string[] = [];
		cut.on('error', event => {
			events.push(`${event.type}:${(event as {phase?: string}).phase}`);
		});
		const started = deferred<number>();
		const first = cut
			.write('objects/1', async context => {
				started.resolve(context.fencingToken);
				await new Promise(resolve => {
					context.signal?.addEventListener('abort', resolve, {once: true});
				});
				log.push('abort:first');
			})
			.catch((error: unknown) => error);
		const firstToken = await started.promise;
		const second = other.write('objects/1', context => {
			log.push('run:second');
			return context.fencingToken;
		});
		await (await otherBackend.acquire(['barrier/lanes'], {kind: 'write'})).release();
		partition.cut();
		expect(isBackendError(await first)).toBe(true);
		expect(await second).toBeGreaterThan(firstToken);
		expect(log).toEqual(['abort:first', 'run:second']);
		// The lease event when it is lost, then the operation's own failure.
		expect(events).toEqual(['error:lease', 'error:running']);
	} finally {
		partition.heal();
		await Promise.all([cut.close(), other.close()]);
		cutClient.disconnect();
		await partition.close();
	}
});

test('a check that was sent while waiting and answers "waiting" after the grant arrived does not cost the lease', async () => {
	const prefix = `stale${++spaces}:`;
	const partition = await partitionable(redis.port);
	const slowClient = new Redis({port: partition.port, host: '127.0.0.1'});
	slowClient.on('error', () => undefined);
	const holder = redisBackend({client: redis.client(), prefix, leaseMs: 900});
	// Notifications arrive directly; the waiter's own checks go through the partition.
	const waiter = redisBackend({client: slowClient, subscriber: redis.client(), prefix, leaseMs: 900});
	try {
		const held = await holder.acquire(['objects/1'], {kind: 'write'});
		const waiting = waiter.acquire(['objects/1'], {kind: 'write'});
		await (await waiter.acquire(['barrier/stale'], {kind: 'write'})).release();
		partition.cut('replies');
		// Its next check (every leaseMs / 3) has run in Redis ("waiting"); the answer is held back.
		await partition.holding();
		await held.release();
		const lease = await waiting;
		partition.heal();
		// Answered on the same connection after the held one: by then the stale answer was read.
		await (await waiter.acquire(['barrier/stale-2'], {kind: 'write'})).release();
		await flush();
		expect(lease.signal?.aborted).toBe(false);
		await lease.release();
	} finally {
		partition.heal();
		await Promise.all([holder.close(), waiter.close()]);
		slowClient.disconnect();
		await partition.close();
	}
});

test('Redis restarted while writes run and wait: the running lease aborts, the waiting ones reject with BackendError, nothing is granted before the old lease is over, and the lanes recover', {timeout: 30_000}, async () => {
	const own = await startRedis();
	const prefix = 'restart:';
	const options = {prefix, leaseMs: 1000, commandTimeout: 200};
	const [a, b, c] = [0, 1, 2].map(() => redisBackend({client: own.client(), ...options}));
	try {
		// Some history first, so that a token that restarted from zero after the restart would show.
		for (let round = 0; round < 5; round++) {
			await (await a!.acquire(['objects/1'], {kind: 'write'})).release();
		}

		const log: string[] = [];
		const running = await a!.acquire(['objects/1'], {kind: 'write'});
		log.push('grant:running');
		watch(log, 'running', running);
		const waiting = [b!, c!].map(backend => backend.acquire(['objects/1'], {kind: 'write'}).catch((error: unknown) => error));
		await (await c!.acquire(['barrier/1'], {kind: 'write'})).release();

		await own.kill();
		// Down: a new write through the lanes fails closed and never runs.
		const lanes = createLanes({backend: b!});
		let ran = false;
		const refused = await lanes
			.write('objects/2', () => {
				ran = true;
			})
			.catch((error: unknown) => error);
		expect(isBackendError(refused)).toBe(true);
		expect(ran).toBe(false);

		await own.start();
		for (const outcome of await Promise.all(waiting)) {
			expect(isBackendError(outcome)).toBe(true);
		}

		// Back up, empty: the lanes work again, and the first grant comes after the lost lease ended.
		const recovered = await lanes.write('objects/1', context => {
			log.push('grant:recovered');
			return context.fencingToken;
		});
		expect(log).toEqual(['grant:running', 'abort:running', 'grant:recovered']);
		expect(recovered).toBeGreaterThan(running.fencingToken);
		await running.release();
		await lanes.close();
	} finally {
		await Promise.all([a!.close(), b!.close(), c!.close()]);
		await own.stop();
	}
});

test('a restarted Redis grants nothing for one lease: a holder that could not hear of the restart has stopped before anyone else starts', {timeout: 30_000}, async () => {
	const own = await startRedis();
	const partition = await partitionable(own.port);
	const cutClient = new Redis({port: partition.port, host: '127.0.0.1'});
	cutClient.on('error', () => undefined);
	const options = {prefix: 'grace:', leaseMs: 1000, commandTimeout: 200};
	const holder = redisBackend({client: cutClient, ...options});
	const other = redisBackend({client: own.client(), ...options});
	try {
		// Wait out the fresh server's own first lease.
		await (await other.acquire(['warm-up'], {kind: 'write'})).release();
		const log: string[] = [];
		const held = await holder.acquire(['objects/1'], {kind: 'write'});
		log.push('grant:holder');
		watch(log, 'holder', held);
		partition.cut();
		await own.kill();
		await own.start();
		const next = await other.acquire(['objects/1'], {kind: 'write'});
		log.push('grant:next');
		expect(log).toEqual(['grant:holder', 'abort:holder', 'grant:next']);
		expect(next.fencingToken).toBeGreaterThan(held.fencingToken);
		await next.release();
	} finally {
		await Promise.all([holder.close(), other.close()]);
		cutClient.disconnect();
		await partition.close();
		await own.stop();
	}
});

test('Redis frozen (SIGSTOP) longer than the lease: the holder aborts, waiters and new writes reject, nothing runs unguarded; after SIGCONT the lane works with a higher token', {timeout: 30_000}, async () => {
	const prefix = `frozen${++spaces}:`;
	const options = {prefix, leaseMs: 1000, commandTimeout: 200};
	const [a, b] = [0, 1].map(() => redisBackend({client: redis.client(), ...options}));
	const lanes = createLanes({backend: b!});
	try {
		const log: string[] = [];
		const running = await a!.acquire(['objects/1'], {kind: 'write'});
		log.push('grant:running');
		watch(log, 'running', running);
		const waiting = b!.acquire(['objects/1'], {kind: 'write'}).catch((error: unknown) => error);
		await (await b!.acquire(['barrier/1'], {kind: 'write'})).release();

		redis.pause();
		let ran = false;
		const refused = await lanes
			.write('objects/2', () => {
				ran = true;
			})
			.catch((error: unknown) => error);
		expect(isBackendError(refused)).toBe(true);
		const [gaveUp] = await Promise.all([waiting, new Promise(resolve => running.signal?.addEventListener('abort', resolve, {once: true}))]);
		expect(isBackendError(gaveUp)).toBe(true);
		expect(ran).toBe(false);
		redis.resume();

		const token = await lanes.write('objects/1', context => {
			log.push('grant:after');
			return context.fencingToken;
		});
		expect(log).toEqual(['grant:running', 'abort:running', 'grant:after']);
		expect(token).toBeGreaterThan(running.fencingToken);
		await running.release();
	} finally {
		redis.resume();
		await lanes.close();
		await Promise.all([a!.close(), b!.close()]);
	}
});

test('the package never loads ioredis: only the writelane/redis subpath names it, as a type, and works with the client it is given', () => {
	const root = fileURLToPath(new URL('../src/', import.meta.url));
	const importers = readdirSync(root, {recursive: true, encoding: 'utf8'})
		.filter(file => file.endsWith('.ts'))
		.flatMap(file => {
			const line = /^import[^;]*from 'ioredis';$/m.exec(readFileSync(`${root}${file}`, 'utf8'));
			return line ? [[file, line[0]]] : [];
		});
	expect(importers).toEqual([[join('backends', 'redis.ts'), "import type {Redis} from 'ioredis';"]]);
});
