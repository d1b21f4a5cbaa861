import {afterAll, beforeAll, expect, test} from 'vitest';
import {redisBackend, type RedisBackend} from '../src/redis.js';
import {backendContract} from './backend-contract.js';
import {startRedis, type TestRedis} from './redis-server.js';

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
