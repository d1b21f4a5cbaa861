// A Capacities-style automation: many concurrent edits (block appends, property changes) to a few
// objects through `lanes.fetch`. Writes to one object run one after another, so none is lost.
// Starts its own reference server; set WRITELANE_BASE_URL and WRITELANE_TOKEN to use a running one.
import {capacities, createLanes} from 'writelane';
import {startLwwServer} from 'writelane/testing';

const server = process.env.WRITELANE_BASE_URL ? undefined : await startLwwServer({objects: 5, latency: [2, 10]});
const baseUrl = process.env.WRITELANE_BASE_URL ?? server.url;
const headers = {authorization: `Bearer ${process.env.WRITELANE_TOKEN ?? server?.token}`, 'content-type': 'application/json'};
const lanes = createLanes({keys: capacities()});

async function call(method, path, body) {
	const response = await lanes.fetch(`${baseUrl}${path}`, {method, headers, body: body && JSON.stringify(body)});
	if (!response.ok) {
		throw new Error(`${method} ${path}: HTTP ${response.status}`);
	}

	return response.json();
}

const text = value => ({type: 'TextBlock', tokens: [{type: 'TextToken', text: value, style: {}}]});
const run = Date.now().toString(36); // tells this run's edits apart from earlier ones
const notes = 6;
const ids = (await call('GET', '/objects')).objects.slice(0, 5).map(object => object.id);

// Everything at once, as independent automations would send it.
const edits = ids.flatMap(id => [
	...Array.from({length: notes}, (_, n) => call('POST', '/blocks/append', {id, blocks: [text(`${run} note ${n}`)]})),
	call('PATCH', '/object', {id, properties: {description: {type: 'text', text: `${run} reviewed`}}}),
	call('PATCH', '/object', {id, title: `${run} page`}),
]);
await Promise.all(edits);

let lost = 0;
for (const id of ids) {
	const object = await call('GET', `/object?id=${id}`);
	const found = (object.blocks.content ?? []).filter(block => block.tokens?.[0]?.text.startsWith(`${run} note`));
	lost += notes - found.length;
	lost += object.properties.description?.text === `${run} reviewed` ? 0 : 1;
	lost += object.title === `${run} page` ? 0 : 1;
}

console.log(`capacities-fetch: ${edits.length} concurrent edits to ${ids.length} objects, lost=${lost}`);
await lanes.close();
await server?.close();
process.exitCode = lost === 0 ? 0 : 1;
