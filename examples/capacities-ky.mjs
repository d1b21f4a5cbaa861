// The Capacities-style automation of capacities-fetch.mjs, written with ky: `lanes.wrapKy()` returns
// a ky instance whose every call (with ky's own retries) runs inside its object's lane. Needs ky
// installed next to writelane (an optional peer dependency).
// Starts its own reference server; set WRITELANE_BASE_URL and WRITELANE_TOKEN to use a running one.
import ky from 'ky';
import {capacities, createLanes} from 'writelane';
import {startLwwServer} from 'writelane/testing';

const server = process.env.WRITELANE_BASE_URL ? undefined : await startLwwServer({objects: 5, latency: [2, 10]});
const lanes = createLanes({keys: capacities()});
const api = lanes.wrapKy(
	ky.create({
		prefixUrl: process.env.WRITELANE_BASE_URL ?? server.url,
		headers: {authorization: `Bearer ${process.env.WRITELANE_TOKEN ?? server?.token}`},
	}),
);

const text = value => ({type: 'TextBlock', tokens: [{type: 'TextToken', text: value, style: {}}]});
const run = Date.now().toString(36); // tells this run's edits apart from earlier ones
const notes = 6;
const {objects} = await api.get('objects').json();
const ids = objects.slice(0, 5).map(object => object.id);

// Everything at once, as independent automations would send it; ky's `json` option sets the JSON
// content type, so the preset sees the object id in the body.
const edits = ids.flatMap(id => [
	...Array.from({length: notes}, (_, n) => api.post('blocks/append', {json: {id, blocks: [text(`${run} note ${n}`)]}}).json()),
	api.patch('object', {json: {id, properties: {description: {type: 'text', text: `${run} reviewed`}}}}).json(),
	api.patch('object', {json: {id, title: `${run} page`}}).json(),
]);
await Promise.all(edits);

let lost = 0;
for (const id of ids) {
	const object = await api.get('object', {searchParams: {id}}).json();
	const found = (object.blocks.content ?? []).filter(block => block.tokens?.[0]?.text.startsWith(`${run} note`));
	lost += notes - found.length;
	lost += object.properties.description?.text === `${run} reviewed` ? 0 : 1;
	lost += object.title === `${run} page` ? 0 : 1;
}

console.log(`capacities-ky: ${edits.length} concurrent edits to ${ids.length} objects, lost=${lost}`);
await lanes.close();
await server?.close();
process.exitCode = lost === 0 ? 0 : 1;
