// A child process of test/redis.test.ts and bench/redis.js (bundled with esbuild first). Its job comes as
// JSON in argv[2]; it talks to the parent over IPC.
import {Redis} from 'ioredis';
import {capacities, createLanes, type Lanes} from '../src/index.js';
import {redisBackend} from '../src/redis.js';

type Common = {readonly name: string; readonly redisPort?: number | undefined; readonly prefix?: string; readonly leaseMs?: number};
/** `count` concurrent read-modify-write increments spread over `ids`, through `update()`. */
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
const backend = client && redisBackend({client, prefix: job.prefix, leaseMs: job.leaseMs});

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

async function holds(lanes: Lanes, {key, count}: Holds) {
	const waiting = new Map<number, () => void>();
	process.on('message', (message: {type: string; index: number}) => {
		if (message.type === 'finish') {
			waiting.get(message.index)?.();
		}
	});
	await Promise.all(
		Array.from({length: count}, (_, index) =>
			lanes.write(key, async context => {
				const finished = new Promise<void>(resolve => {
					waiting.set(index, resolve);
				});
				await send({type: 'start', index, token: context.fencingToken});
				await finished;
			}),
		),
	);
	await send({type: 'done'});
}

const lanes = createLanes({keys: capacities(), ...(backend && {backend})});
await send({type: 'ready'});
// Every worker starts when the parent says so, so that they really run at the same time.
await new Promise<void>(resolve => {
	process.once('message', () => {
		resolve();
	});
});
if (job.job === 'updates') {
	await updates(lanes, job);
} else {
	await holds(lanes, job);
}

await lanes.close();
client?.disconnect();
process.disconnect();
