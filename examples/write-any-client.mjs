// `lanes.write(key, fn)` guards any client, not only fetch: here a tiny promise wrapper around
// node:http stands in for axios or a vendor SDK. Each read-modify-write holds its object's lane.
// Starts its own reference server; set WRITELANE_BASE_URL and WRITELANE_TOKEN to use a running one.
import {request} from 'node:http';
import {capacities, createLanes} from 'writelane';
import {startLwwServer} from 'writelane/testing';

const server = process.env.WRITELANE_BASE_URL ? undefined : await startLwwServer({objects: 5, latency: [2, 10]});
const baseUrl = process.env.WRITELANE_BASE_URL ?? server.url;
const token = process.env.WRITELANE_TOKEN ?? server?.token;

/** The "SDK": one JSON request over node:http, resolving with the parsed answer. */
function sdk(method, path, body) {
	const payload = body === undefined ? undefined : JSON.stringify(body);
	const headers = {authorization: `Bearer ${token}`, ...(payload && {'content-type': 'application/json'})};
	return new Promise((resolve, reject) => {
		const outgoing = request(`${baseUrl}${path}`, {method, headers}, response => {
			const chunks = [];
			response.on('data', chunk => chunks.push(chunk));
			response.on('error', reject);
			response.on('end', () => {
				const answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
				if (response.statusCode >= 300) {
					reject(new Error(`${method} ${path}: HTTP ${response.statusCode} ${answer.code}`));
				} else {
					resolve(answer);
				}
			});
		});
		outgoing.on('error', reject);
		outgoing.end(payload);
	});
}

// `objects/<id>` is the lane the capacities() preset gives `lanes.fetch` requests for that object,
// so these calls and any fetch/ky calls of the same script wait for each other.
const lanes = createLanes({keys: capacities()});
const counter = object => object.properties.counter?.number ?? 0;
const increment = id =>
	lanes.write(`objects/${id}`, async () => {
		const object = await sdk('GET', `/object?id=${id}`);
		await sdk('PATCH', '/object', {id, properties: {counter: {type: 'number', number: counter(object) + 1}}});
	});

const ids = (await sdk('GET', '/objects')).objects.slice(0, 5).map(object => object.id);
const before = await Promise.all(ids.map(async id => counter(await sdk('GET', `/object?id=${id}`))));
const perObject = 20;
await Promise.all(ids.flatMap(id => Array.from({length: perObject}, () => increment(id))));
const after = await Promise.all(ids.map(async id => counter(await sdk('GET', `/object?id=${id}`))));
const lost = ids.length * perObject - after.reduce((sum, value, index) => sum + value - before[index], 0);

console.log(`write-any-client: ${ids.length * perObject} concurrent increments over node:http, lost=${lost}`);
await lanes.close();
await server?.close();
process.exitCode = lost === 0 ? 0 : 1;
