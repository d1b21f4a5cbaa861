// A batch loop: 200 operations on mixed objects pushed through lanes at once. `concurrency` and
// `rateLimit` bound the whole batch, each object's operations keep their order, the `done` event
// drives a progress line and `stats()` shows the lanes drained.
// Starts its own reference server; set WRITELANE_BASE_URL and WRITELANE_TOKEN to use a running one.
import {capacities, createLanes} from 'writelane';
import {startLwwServer} from 'writelane/testing';

const server = process.env.WRITELANE_BASE_URL ? undefined : await startLwwServer({objects: 8, latency: [2, 10]});
const baseUrl = process.env.WRITELANE_BASE_URL ?? server.url;
const headers = {authorization: `Bearer ${process.env.WRITELANE_TOKEN ?? server?.token}`, 'content-type': 'application/json'};
const lanes = createLanes({keys: capacities(), concurrency: 4, rateLimit: {limit: 100, interval: 250}});

async function call(method, path, body) {
	const response = await lanes.fetch(`${baseUrl}${path}`, {method, headers, body: body && JSON.stringify(body)});
	if (!response.ok) {
		throw new Error(`${method} ${path}: HTTP ${response.status}`);
	}

	return response.json();
}

const ids = (await call('GET', '/objects')).objects.slice(0, 8).map(object => object.id);
const run = Date.now().toString(36); // tells this run's notes apart from earlier ones
const note = n => ({type: 'TextBlock', tokens: [{type: 'TextToken', text: `${run} op ${n}`, style: {}}]});
const operations = Array.from({length: 200}, (_, n) => {
	const id = ids[(n * 3) % ids.length];
	return n % 5 === 0
		? ['PATCH', '/object', {id, properties: {counter: {type: 'number', number: n}}}]
		: ['POST', '/blocks/append', {id, blocks: [note(n)]}];
});

let done = 0;
const stop = lanes.on('done', () => {
	if (++done % 50 === 0) {
		const {queued, lanes: active} = lanes.stats();
		console.log(`progress ${done}/${operations.length} (queued ${queued} in ${active.length} lanes)`);
	}
});
await Promise.all(operations.map(([method, path, body]) => call(method, path, body)));
stop();
await lanes.onIdle();
console.log('stats', JSON.stringify(lanes.stats()));

// Each object must show its notes in submission order and the counter of its last PATCH.
let lost = 0;
let outOfOrder = 0;
for (const id of ids) {
	const sent = operations.filter(([, , body]) => body.id === id);
	const object = await call('GET', `/object?id=${id}`);
	const seen = (object.blocks.content ?? []).map(block => block.tokens?.[0]?.text ?? '').filter(text => text.startsWith(`${run} op `));
	const numbers = seen.map(text => Number(text.slice(`${run} op `.length)));
	lost += sent.filter(([method]) => method === 'POST').length - numbers.length;
	outOfOrder += numbers.filter((n, index) => index > 0 && n < numbers[index - 1]).length;
	const lastSet = sent.findLast(([method]) => method === 'PATCH')?.[2].properties.counter.number;
	lost += lastSet === undefined || object.properties.counter?.number === lastSet ? 0 : 1;
}

console.log(`batch-loop: ${operations.length} operations on ${ids.length} objects, lost=${lost}, out-of-order=${outOfOrder}`);
await lanes.close();
await server?.close();
process.exitCode = lost === 0 && outOfOrder === 0 ? 0 : 1;
