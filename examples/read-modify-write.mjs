// Read-modify-write with `lanes.update()`: GET the object, change it in memory, PATCH it back, all
// under one hold of the object's lane, so concurrent increments never overwrite each other. The same
// increments with plain fetch are run first, to show what a last-write-wins API does to them.
// Starts its own reference server; set WRITELANE_BASE_URL and WRITELANE_TOKEN to use a running one.
import {capacities, createLanes} from 'writelane';
import {startLwwServer} from 'writelane/testing';

const server = process.env.WRITELANE_BASE_URL ? undefined : await startLwwServer({objects: 5, latency: [2, 10]});
const baseUrl = process.env.WRITELANE_BASE_URL ?? server.url;
const headers = {authorization: `Bearer ${process.env.WRITELANE_TOKEN ?? server?.token}`};
const lanes = createLanes({keys: capacities()});

const counter = object => object.properties.counter?.number ?? 0;
const incremented = object => ({id: object.id, properties: {counter: {type: 'number', number: counter(object) + 1}}});
const read = async id => (await fetch(`${baseUrl}/object?id=${id}`, {headers})).json();

const guarded = id =>
	lanes.update(`${baseUrl}/object?id=${id}`, incremented, {method: 'PATCH', writeUrl: `${baseUrl}/object`, headers});

const unguarded = async id => {
	const object = await read(id);
	const response = await fetch(`${baseUrl}/object`, {
		method: 'PATCH',
		headers: {...headers, 'content-type': 'application/json'},
		body: JSON.stringify(incremented(object)),
	});
	await response.json();
};

const ids = (await (await fetch(`${baseUrl}/objects`, {headers})).json()).objects.slice(0, 5).map(object => object.id);
const perObject = 30;

/** Runs `perObject` concurrent increments of every object and counts the ones the server lost. */
async function lostWith(increment) {
	const before = await Promise.all(ids.map(async id => counter(await read(id))));
	await Promise.all(ids.flatMap(id => Array.from({length: perObject}, () => increment(id))));
	const after = await Promise.all(ids.map(async id => counter(await read(id))));
	return ids.length * perObject - after.reduce((sum, value, index) => sum + value - before[index], 0);
}

const withoutLanes = await lostWith(unguarded);
console.log(`without writelane: ${ids.length * perObject} concurrent increments, lost=${withoutLanes}`);
const lost = await lostWith(guarded);
console.log(`read-modify-write: ${ids.length * perObject} concurrent increments with update(), lost=${lost}`);
await lanes.close();
await server?.close();
process.exitCode = lost === 0 ? 0 : 1;
