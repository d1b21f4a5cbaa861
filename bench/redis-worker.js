// One process of `npm run bench:redis`: takes and gives back a lock in a loop until the deadline and
// reports every hold. The job is JSON in argv[2]; `go` (over IPC) carries the shared start time.
import {Redis} from 'ioredis';
import Redlock from 'redlock';
import {Mutex} from 'redis-semaphore';
import {redisBackend} from '../dist/redis.js';

const {contender, port, keys, leaseMs, prefix} = JSON.parse(process.argv[2]);
const client = new Redis({port, host: '127.0.0.1'});
client.on('error', () => {});
/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
const now = () => performance.timeOrigin + performance.now();

/** Each contender as `acquire(key) => release()`, both promises. */
function makeLock() {
	if (contender === 'writelane') {
		const backend = redisBackend({client, prefix, leaseMs});
		return {
			async acquire(key) {
				const lease = await backend.acquire([key], {kind: 'write'});
				const release = () => lease.release();
				// Tickets are taken on arrival at Redis: the grant order can be checked exactly.
				release.token = lease.fencingToken;
				return release;
			},
			close: () => backend.close(),
		};
	}

	if (contender.startsWith('redlock')) {
		// Unlimited retries: the default (10) gives up under contention, which would not be a lock.
		const retryDelay = contender === 'redlock' ? 200 : 10;
		const redlock = new Redlock([client], {retryCount: -1, retryDelay, retryJitter: retryDelay});
		redlock.on('clientError', () => {});
		return {
			async acquire(key) {
				const lock = await redlock.lock(`${prefix}${key}`, leaseMs);
				return () => lock.unlock();
			},
			close: async () => {},
		};
	}

	if (contender === 'redis-semaphore') {
		const mutexes = new Map();
		return {
			async acquire(key) {
				let mutex = mutexes.get(key);
				if (!mutex) {
					mutex = new Mutex(client, `${prefix}${key}`, {lockTimeout: leaseMs, acquireTimeout: 60_000});
					mutexes.set(key, mutex);
				}

				await mutex.acquire();
				return () => mutex.release();
			},
			close: async () => {},
		};
	}

	throw new Error(`unknown contender ${contender}`);
}

const lock = makeLock();
// Connected and warm before the clock starts.
await client.ping();
const warm = await lock.acquire(`warm-${process.pid}`);
await warm();
process.send({type: 'ready'});
const {startAt, endAt} = await new Promise(resolve => {
	process.once('message', resolve);
});
while (now() < startAt) {
	await new Promise(resolve => setImmediate(resolve));
}

/** [requested, acquired, released] per hold, in ms. */
const holds = [];
let failures = 0;
while (now() < endAt) {
	const key = keys[Math.floor(Math.random() * keys.length)];
	const requested = now();
	let release;
	try {
		release = await lock.acquire(key);
	} catch {
		failures++;
		continue;
	}

	const acquired = now();
	// The critical section: give the event loop one turn, as a real request would.
	await new Promise(resolve => setImmediate(resolve));
	const released = now();
	await release();
	holds.push([key, requested, acquired, released, release.token ?? null]);
}

await new Promise(resolve => process.send({type: 'done', holds, failures}, resolve));
await lock.close();
client.disconnect();
process.disconnect();
