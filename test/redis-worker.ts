// A child process of test/redis.test.ts (bundled with esbuild first). Its job comes as JSON in argv[2];
// it runs it each time the parent says `go` (so that all workers really run at the same time), and
// ends on `exit`. It talks to the parent over IPC.
import {Redis} from 'ioredis';
import {capacities, createLanes, type Lanes} from '../src/index.js';
import {redisBackend} from '../src/redis.js';

type Common = {readonly name: string; readonly redisPort?: number | undefined; readonly prefix?: string; readonly leaseMs?: number};
/** `count` concurrent read-modify-write increments spread over `ids`, through `update()`; `go` says with which lanes. */
type Updates = Common & {readonly job: 'updates'; readonly baseUrl: string; readonly token: string; readonly ids: readonly string[]; readonly count: number};
/** `count` writes on `key`, each held until the parent answers `finish`. */
type Holds = Common & {readonly job: 'holds'; readonly key: string; readonly count: number};
type Job = Updates | Holds;

const job = JSON.parse(process.argv[2]!) as Job;
const send = (message: object) =>
	new Promise<void>((resolve, reject) => {
		process.send!(message, (error: Error | null) => {
			if (error) {
				reject(error);
			} else {
				resolve();
			}
		});
	});

const client = job.redisPort === undefined ? undefined : new Redis({port: job.redisPort, host: '127.0.0.1'});
const redisLanes = client && createLanes({keys: capacities(), backend: redisBackend({client, prefix: job.prefix, leaseMs: job.leaseMs})});
// The same work without coordination between processes: what a plain per-process lock gives.
const localLanes = createLanes({keys: capacities()});

async function updates(lanes: Lanes, {baseUrl, token, ids, count}: Updates) {
	const headers = {authorization: `Bearer ${token}`};
	const counter = (object: {properties: {counter?: {number?: number}}}) => object.properties.counter?.number ?? 0;
	let failed = 0;
	const errors = new Set<string>();
	await Promise.all(
		Array.from({length: count}, (_, index) =>
			lanes
				.update(
					`${baseUrl}/object?id=${ids[index % ids.length]}`,
					(object: {id: string; properties: {counter?: {number?: number}}}) => ({
						id: object.id,
						properties: {counter: {type: 'number', number: counter(object) + 1}},
					}),
					{method: 'PATCH', writeUrl: `${baseUrl}/object`, headers},
				)
				.catch((error: unknown) => {
					failed++;
					errors.add(`${String(error)} (cause: ${String((error as Error).cause)})`);
				}),
		),
	);
	await send({type: 'done', failed, errors: [...errors]});
}

const held = new Map<number, () => void>();

async function holds(lanes: Lanes, {key, count}: Holds) {
	const errors: string[] = [];
	await Promise.all(
		Array.from({length: count}, (_, index) =>
			lanes
				.write(key, async context => {
					const finished = new Promise<void>(resolve => {
						held.set(index, resolve);
					});
					await send({type: 'start', index, token: context.fencingToken});
					await finished;
				})
				.catch((error: unknown) => {
					errors.push(`${String(error)} (cause: ${String((error as Error).cause)})`);
				}),
		),
	);
	await send({type: 'done', errors});
}

type Command = {readonly type: 'go'; readonly redis: boolean} | {readonly type: 'finish'; readonly index: number} | {readonly type: 'exit'};

process.on('message', (command: Command) => {
	if (command.type === 'finish') {
		held.get(command.index)?.();
	} else if (command.type === 'go') {
		const lanes = command.redis ? redisLanes! : localLanes;
		void (job.job === 'updates' ? updates(lanes, job) : holds(lanes, job));
	} else {
		void Promise.all([localLanes.close(), redisLanes?.close()]).then(() => {
			client?.disconnect();
			process.disconnect();
		});
	}
});
await send({type: 'ready'});
