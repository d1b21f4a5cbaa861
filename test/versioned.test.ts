import {afterEach, expect, test} from 'vitest';
import {capacities, ConflictError, createLanes, type Lanes, type Preset} from '../src/index.js';
import {type LwwObject, type LwwServer, startLwwServer} from '../src/testing/index.js';

let server: LwwServer | undefined;
afterEach(async () => {
	await server?.close();
	server = undefined;
});

type Counter = Pick<LwwObject, 'id' | 'properties'> & {version?: number};

/** Capacities keys plus Square-style versions in the body, for the server's `'version'` mode. */
const versioned: Preset = {
	...capacities(),
	name: 'capacities+version',
	versioning: {
		type: 'field',
		read: resource => (resource as {version?: number}).version,
		write: (body, version) => ({...(body as object), version}),
	},
};

const counterOf = (object: LwwObject | undefined) => (object?.properties.counter as {number: number} | undefined)?.number;

/** One increment of the counter of `id` through `lanes`, the Capacities way: GET /object?id, PATCH /object. */
function increment(lanes: Lanes, id: string, precondition = true) {
	return lanes.update<Counter>(
		`${server!.url}/object?id=${id}`,
		current => ({id: current.id, properties: {counter: {type: 'number', number: (counterOf(current as LwwObject) ?? 0) + 1}}}),
		// Two clients hammering one object: a client can lose several rounds in a row, so allow many attempts.
		{method: 'PATCH', writeUrl: `${server!.url}/object`, headers: {authorization: `Bearer ${server!.token}`}, precondition, attempts: 50},
	);
}

/**
Two lanes instances are two uncoordinated clients (two machines, or a person in the app): their lanes
know nothing of each other. Both first read the same version (held by the server), then each goes on.
*/
async function race(mode: 'etag' | 'version', precondition: boolean) {
	server = await startLwwServer({objects: 1, latency: [1, 3], mode});
	const [id] = server.objectIds as [string];
	const options = mode === 'version' ? {keys: versioned} : {keys: capacities()};
	const clients = [createLanes(options), createLanes(options)];
	const release = server.hold();
	const first = clients.map(async lanes => increment(lanes, id, precondition));
	await server.whenInFlight(2);
	release();
	const rest = clients.flatMap(lanes => Array.from({length: 10}, async () => increment(lanes, id, precondition)));
	const results = await Promise.all([...first, ...rest]);
	return {results, stored: counterOf(server.object(id)), report: server.report()};
}

test("update() in 'etag' mode - two uncoordinated clients lose nothing: a stale If-Match gets 412, the loser re-reads and re-applies", async () => {
	const {results, stored, report} = await race('etag', true);
	expect(stored).toBe(22);
	expect(report.conflicts).toBeGreaterThan(0);
	expect(results.some(result => result.attempts > 1)).toBe(true);
});

test("update() in 'version' mode - the version field is the precondition; VERSION_MISMATCH re-reads and re-applies", async () => {
	const {results, stored, report} = await race('version', true);
	expect(stored).toBe(22);
	expect(report.conflicts).toBeGreaterThan(0);
	expect(results.some(result => result.attempts > 1)).toBe(true);
});

test('update() without preconditions - the same two clients lose updates (what the precondition prevents)', async () => {
	const etag = await race('etag', false);
	expect(etag.stored).toBeLessThan(22);
	expect(etag.report.conflicts).toBe(0);
	await server?.close();
	const version = await race('version', false);
	expect(version.stored).toBeLessThan(22);
});

test('update() - gives up with ConflictError after `attempts`, carrying the key and the last answer', async () => {
	server = await startLwwServer({objects: 1, latency: 0, mode: 'etag'});
	const [id] = server.objectIds as [string];
	const lanes = createLanes({keys: capacities()});
	const other = createLanes({keys: capacities()});
	const error: unknown = await lanes
		.update<Counter>(
			`${server.url}/object?id=${id}`,
			async current => {
				// Someone else writes between every read and write of ours.
				await increment(other, id);
				return {id: current.id, properties: {counter: {type: 'number', number: 100}}};
			},
			{writeUrl: `${server.url}/object`, headers: {authorization: `Bearer ${server.token}`}, attempts: 3, conflictBackoff: () => 0},
		)
		.catch((error_: unknown) => error_);
	expect(error).toBeInstanceOf(ConflictError);
	expect(error).toMatchObject({code: 'WL_CONFLICT', attempts: 3, status: 412, key: [`objects/${id}`], reply: {status: 412, body: {error: {code: 'precondition_failed'}}}});
	expect(JSON.stringify(error)).not.toContain(server.token);
	expect(counterOf(server.object(id))).toBe(3);
});

test('update() - a weak ETag is never sent as If-Match', async () => {
	const seen: Array<string | null> = [];
	const lanes = createLanes();
	await lanes.update('https://api.test/doc', current => current, {
		fetch: async (input, init) => {
			const request = new Request(input, init);
			seen.push(request.headers.get('if-match'));
			return new Response('{"a":1}', {headers: {etag: 'W/"5"', 'content-type': 'application/json'}});
		},
	});
	expect(seen).toEqual([null, null]);
});
