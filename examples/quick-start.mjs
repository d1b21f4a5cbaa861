// A runnable, longer version of the README's quick start (it also sends a call through ky): `node examples/quick-start.mjs` after `npm run build`.
import ky from 'ky';
import {capacities, createLanes} from 'writelane';
import {startLwwServer} from 'writelane/testing';

// A Capacities-style API on 127.0.0.1; point `url` and `token` at the real one instead.
const server = await startLwwServer({objects: 3});
const {url, token} = server;
const [id] = server.objectIds;
const headers = {authorization: `Bearer ${token}`, 'content-type': 'application/json'};
const lanes = createLanes({keys: capacities(), concurrency: 8, rateLimit: {limit: 20, interval: 1000}});
const counter = number => ({counter: {type: 'number', number}});

// 1. fetch: PATCHes to one object go one after another, in call order; GETs run freely.
await Promise.all([1, 2, 3].map(number => lanes.fetch(`${url}/object`, {method: 'PATCH', headers, body: JSON.stringify({id, properties: counter(number)})})));

// 2. ky: every call, with ky's own retries, runs inside one hold of its lane.
const api = lanes.wrapKy(ky.create({prefixUrl: url, headers: {authorization: `Bearer ${token}`}}));
await api.post('blocks/append', {json: {id, blocks: [{type: 'TextBlock', tokens: [{type: 'TextToken', text: 'hello', style: {}}]}]}});

// 3. Anything else (axios, an SDK, a database call): hold the object's lane around it.
await lanes.write(`objects/${id}`, async () => {
	// e.g. await sdk.objects.update(id, changes)
});

// Read-modify-write under one hold of the object's lane: nothing another automation writes is lost.
await lanes.update(`${url}/object?id=${id}`, object => ({id, properties: counter(object.properties.counter.number + 1)}), {
	method: 'PATCH',
	writeUrl: `${url}/object`,
	headers,
});

const report = server.report();
console.log(`quick-start: counter=${server.object(id).properties.counter.number} overlaps=${report.overlaps}`);
await lanes.close();
await server.close();
