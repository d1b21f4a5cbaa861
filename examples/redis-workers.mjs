// Several processes, one order: each worker process increments the same objects with update(), and a
// Redis backend makes their lanes one lane per object across all of them, so no increment is lost.
// Needs a Redis 7 (REDIS_URL, default redis://127.0.0.1:6379) and `npm install ioredis`.
// Starts its own reference server; the parent forks the workers and checks the counters.
import {fork} from 'node:child_process';
import {Redis} from 'ioredis';
import {capacities, createLanes} from 'writelane';
import {redisBackend} from 'writelane/redis';
import {startLwwServer} from 'writelane/testing';

const workers = 3;
const perWorker = 30;
const counter = object => object.properties.counter?.number ?? 0;

if (process.argv[2] === 'worker') {
	const {baseUrl, token, ids} = JSON.parse(process.argv[3]);
	const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
	const lanes = createLanes({keys: capacities(), backend: redisBackend({client, prefix: 'example:'})});
	const headers = {authorization: `Bearer ${token}`};
	const increment = object => ({id: object.id, properties: {counter: {type: 'number', number: counter(object) + 1}}});
	await Promise.all(
		Array.from({length: perWorker}, (_, index) =>
			lanes.update(`${baseUrl}/object?id=${ids[index % ids.length]}`, increment, {method: 'PATCH', writeUrl: `${baseUrl}/object`, headers}),
		),
	);
	await lanes.close();
	client.disconnect();
} else {
	const server = await startLwwServer({objects: 5, latency: [1, 5]});
	const job = JSON.stringify({baseUrl: server.url, token: server.token, ids: server.objectIds});
	const children = Array.from({length: workers}, () => fork(new URL(import.meta.url).pathname, ['worker', job]));
	const codes = await Promise.all(children.map(child => new Promise(resolve => child.on('exit', resolve))));
	let total = 0;
	for (const id of server.objectIds) {
		const response = await fetch(`${server.url}/object?id=${id}`, {headers: {authorization: `Bearer ${server.token}`}});
		total += counter(await response.json());
	}

	const lost = workers * perWorker - total;
	console.log(`redis-workers: ${workers} processes x ${perWorker} increments on 5 objects, lost=${lost}, overlaps=${server.report().overlaps}`);
	await server.close();
	process.exitCode = lost === 0 && codes.every(code => code === 0) ? 0 : 1;
}
