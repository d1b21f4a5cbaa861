// Many processes through Redis lanes: the lost-update proof, a crash, the example. A file of its own
// so that it runs beside test/redis.test.ts; it starts its own redis-server.
import {existsSync} from 'node:fs';
import {afterAll, beforeAll, expect, test} from 'vitest';
import {runNode} from './process-helpers.js';
import {redisBackend} from '../src/redis.js';
import {type LwwServer, startLwwServer} from '../src/testing/index.js';
import {bundleWorker, Worker, type WorkerMessage} from './redis-processes.js';
import {startRedis, type TestRedis} from './redis-server.js';

let redis: TestRedis;
let spaces = 0;

afterAll(async () => {
	await redis?.stop();
});

let workerFile: string;

beforeAll(async () => {
	// Started first: a fresh server grants nothing during its first lease, which passes meanwhile.
	redis = await startRedis();
	workerFile = await bundleWorker();
});

/** Update workers, one per process, with Redis lanes (the default lease: a loaded machine must not turn slow renewals into lost leases here) and local ones. */
async function updateWorkers(server: LwwServer, processes: number, perProcess: number): Promise<Worker[]> {
	const prefix = `updates${++spaces}:`;
	const workers = Array.from(
		{length: processes},
		(_, index) =>
			new Worker(workerFile, {
				name: `w${index}`,
				job: 'updates',
				baseUrl: server.url,
				token: server.token,
				ids: server.objectIds,
				count: perProcess,
				redisPort: redis.port,
				prefix,
			}),
	);
	await Promise.all(workers.map(async worker => worker.next('ready')));
	return workers;
}

/** Runs every worker's increments at once, with Redis lanes or local ones; resolves with the number of failed updates. */
async function increment(workers: readonly Worker[], withRedis: boolean): Promise<number> {
	for (const worker of workers) {
		worker.send({type: 'go', redis: withRedis});
	}

	const done = await Promise.all(workers.map(async worker => worker.next('done')));
	const errors = new Set(done.flatMap(message => message.errors as string[]));
	if (errors.size > 0) {
		console.log([...errors].join('\n'));
	}

	return done.reduce((sum, message) => sum + (message.failed as number), 0);
}

async function counters(server: LwwServer): Promise<number> {
	let total = 0;
	for (const id of server.objectIds) {
		const response = await fetch(`${server.url}/object?id=${id}`, {headers: {authorization: `Bearer ${server.token}`}});
		const object = (await response.json()) as {properties: {counter?: {number?: number}}};
		total += object.properties.counter?.number ?? 0;
	}

	return total;
}

// `npm run test:redis-full` runs the full size (250); the suite runs a shorter one to stay fast on small machines.
const perProcess = Number(process.env.WRITELANE_REDIS_UPDATES ?? 60);

test(`4 processes x ${perProcess} update() increments on 10 objects: through Redis lanes nothing is lost and no writes overlap; without Redis updates are lost`, {timeout: Math.max(60_000, perProcess * 1000)}, async () => {
	const server = await startLwwServer({objects: 10, latency: [1, 4]});
	const workers = await updateWorkers(server, 4, perProcess);
	try {
		let started = performance.now();
		const failedAlone = await increment(workers, false);
		const aloneMs = performance.now() - started;
		const alone = server.report();
		// An update that failed in transit may or may not have landed: count only acknowledged ones as lost.
		const lostAlone = 4 * perProcess - failedAlone - (await counters(server));
		expect(lostAlone).toBeGreaterThan(0);
		expect(alone.overlaps).toBeGreaterThan(0);

		server.reset();
		const before = await counters(server);
		started = performance.now();
		const failed = await increment(workers, true);
		const redisMs = performance.now() - started;
		const report = server.report();
		expect(failed).toBe(0);
		expect((await counters(server)) - before).toBe(4 * perProcess);
		expect(report.overlaps).toBe(0);
		for (const worker of workers) {
			worker.send({type: 'exit'});
		}

		expect(await Promise.all(workers.map(async worker => worker.exited))).toEqual([0, 0, 0, 0]);
		console.log(
			`4 processes x ${perProcess} increments: without Redis lost=${lostAlone} overlaps=${alone.overlaps} (${Math.round(aloneMs)} ms); with Redis lost=0 overlaps=0 (${Math.round(redisMs)} ms)`,
		);
	} finally {
		for (const worker of workers) {
			worker.child.kill();
		}

		await server.close();
	}
});

test('SIGKILL of a process holding a lease: the others get the lane within the lease TTL, in arrival order, each in its own order', {timeout: 60_000}, async () => {
	const prefix = `crash${++spaces}:`;
	const crashLease = 1500;
	const perWorker = 5;
	const starts: Array<{name: string; index: number; token: number}> = [];
	let killedAt = 0;
	let resumedAfterMs = -1;
	const onMessage = (worker: Worker, message: WorkerMessage) => {
		if (message.type !== 'start') {
			return;
		}

		if (killedAt > 0 && resumedAfterMs < 0) {
			resumedAfterMs = performance.now() - killedAt;
		}

		starts.push({name: worker.name, index: message.index as number, token: message.token as number});
		if (worker.name === 'victim' && message.index === 1) {
			worker.child.kill('SIGKILL');
			killedAt = performance.now();
		} else {
			worker.send({type: 'finish', index: message.index});
		}
	};

	const workers = ['victim', 's1', 's2', 's3'].map(
		name => new Worker(workerFile, {name, job: 'holds', key: 'objects/hot', count: perWorker, redisPort: redis.port, prefix, leaseMs: crashLease}, onMessage),
	);
	await Promise.all(workers.map(async worker => worker.next('ready')));
	for (const worker of workers) {
		worker.send({type: 'go', redis: true});
	}

	const survivors = workers.slice(1);
	const done = await Promise.all(survivors.map(async worker => worker.next('done')));
	expect(done.flatMap(message => message.errors as string[])).toEqual([]);
	for (const worker of survivors) {
		worker.send({type: 'exit'});
	}

	expect(await workers[0]!.exited).toBeNull();
	expect(await Promise.all(survivors.map(async worker => worker.exited))).toEqual([0, 0, 0]);

	console.log(`lane resumed ${Math.round(resumedAfterMs)} ms after the SIGKILL (lease ${crashLease} ms)`);
	expect(resumedAfterMs).toBeGreaterThan(0);
	expect(resumedAfterMs).toBeLessThan(crashLease + 500);
	// Tickets are taken on arrival and are the fencing tokens: grants in token order are grants in arrival order.
	const tokens = starts.map(start => start.token);
	expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
	for (const worker of survivors) {
		expect(starts.filter(start => start.name === worker.name).map(start => start.index)).toEqual([0, 1, 2, 3, 4]);
	}
});

test('examples/redis-workers.mjs - exits 0 on its own and prints lost=0, overlaps=0', {timeout: 60_000}, async ({skip}) => {
	const built = ['dist/index.js', 'dist/redis.js', 'dist/testing/index.js'].every(file => existsSync(new URL(`../${file}`, import.meta.url)));
	skip(!built, 'dist/ is missing: run `npm run build` first (`npm test` does)');
	// The example uses the default lease: wait out a young server's first lease before it starts.
	const warm = redisBackend({client: redis.client(), prefix: 'example:'});
	await (await warm.acquire(['warm-up'], {kind: 'write'})).release();
	await warm.close();
	const {code, output} = await runNode(['examples/redis-workers.mjs'], {...process.env, REDIS_URL: `redis://127.0.0.1:${redis.port}`});
	expect(code, output).toBe(0);
	expect(output).toMatch(/^redis-workers: 3 processes x 30 increments on 5 objects, lost=0, overlaps=0$/m);
});
