import {expect, test} from 'vitest';
import {type LwwBlock, type LwwObject, type LwwServer, type LwwServerOptions, startLwwServer} from '../src/testing/index.js';
import {type Answer, call as callServer, firstId, start, stored, text, unknownId} from './server-helpers.js';

const uuidPattern = /^[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/;

type ErrorBody = {code: string; message: string};
type Listed = {id: string};

/** A JSON request with the server's token; `T` is the shape the test expects back (errors by default). */
async function call<T = ErrorBody>(server: LwwServer, method: string, path: string, body?: unknown): Promise<Answer<T>> {
	return callServer<T>(server, method, path, body);
}

function content(server: LwwServer, id: string): LwwBlock[] {
	return stored(server, id).blocks.content ?? [];
}

function textOf(block: LwwBlock | undefined): string {
	return ((block?.tokens ?? []) as Array<{text: string}>).map(token => token.text).join('');
}

// Auth

test('requests without the bearer token get 401 cap_not_authenticated', async () => {
	const server = await start({token: 'cap-api-secret'});
	const missing = await fetch(`${server.url}/space`);
	const wrong = await fetch(`${server.url}/space`, {headers: {authorization: 'Bearer cap-api-other'}});
	const basic = await fetch(`${server.url}/space`, {headers: {authorization: 'Basic cap-api-secret'}});
	for (const response of [missing, wrong, basic]) {
		expect(response.status).toBe(401);
		const body = (await response.json()) as {code: string; message: string};
		expect(body.code).toBe('cap_not_authenticated');
		expect(body.message).not.toContain('secret');
	}

	expect((await call(server, 'GET', '/space')).status).toBe(200);
});

test('the default token is a random cap-api- token', async () => {
	const a = await start();
	const b = await start();
	expect(a.token).toMatch(/^cap-api-[\da-f]{32}$/);
	expect(a.token).not.toBe(b.token);
});

// Space

test('GET /space and GET /space/structures describe the one space', async () => {
	const server = await start();
	const space = await call<{id: string; title: string}>(server, 'GET', '/space');
	expect(space.status).toBe(200);
	expect(space.body.id).toBe(server.spaceId);
	expect(space.body.id).toMatch(uuidPattern);
	const {body} = await call<{structures: Array<{id: string; propertyDefinitions: Listed[]}>}>(server, 'GET', '/space/structures');
	const page = body.structures.find(
		structure => structure.id === 'RootPage',
	);
	expect(page?.propertyDefinitions.map(definition => definition.id)).toEqual(['title', 'counter', 'description', 'content']);
});

// Objects

test('GET /object returns a seeded page with a counter and a nested block tree', async () => {
	const server = await start({objects: 2});
	expect(server.objectIds).toHaveLength(2);
	const id = firstId(server);
	const {status, body} = await call<LwwObject>(server, 'GET', `/object?id=${id}`);
	expect(status).toBe(200);
	expect(body).toMatchObject({
		id,
		structureId: 'RootPage',
		title: 'Object 1',
		collections: [],
		properties: {counter: {type: 'number', number: 0}, title: {type: 'title', title: {value: 'Object 1'}}},
	});
	const [paragraph, group, grid] = body.blocks.content ?? [];
	expect([paragraph?.type, group?.type, grid?.type]).toEqual(['TextBlock', 'GroupBlock', 'GridBlock']);
	expect(group?.blocks).toHaveLength(1);
	expect(grid?.columns).toHaveLength(2);
	expect(Date.parse(body.createdAt)).not.toBeNaN();
});

test('GET /object answers 400 for a missing or malformed id and 404 for an unknown one', async () => {
	const server = await start({objects: 1});
	const missing = await call(server, 'GET', '/object');
	expect(missing.status).toBe(400);
	expect(missing.body).toEqual({code: 'cap_invalid_input', message: 'Expected `id` to be a UUID, got `undefined` (undefined)'});
	const malformed = await call(server, 'GET', '/object?id=nope');
	expect(malformed.body.message).toBe('Expected `id` to be a UUID, got `"nope"` (string)');
	const unknown = await call(server, 'GET', `/object?id=${unknownId}`);
	expect(unknown.status).toBe(404);
	expect(unknown.body.code).toBe('cap_not_found');
});

test('POST /object creates an object with generated ids', async () => {
	const server = await start();
	const created = await call<LwwObject>(server, 'POST', '/object', {
		structureId: 'RootPage',
		title: 'Fresh',
		properties: {counter: {type: 'number', number: 5}},
		blocks: {content: [text('hello')]},
	});
	expect(created.status).toBe(201);
	expect(created.body.id).toMatch(uuidPattern);
	expect(created.body.title).toBe('Fresh');
	expect(created.body.blocks.content?.[0]?.id).toMatch(uuidPattern);
	expect(server.objectIds).toEqual([created.body.id]);
	expect((await call(server, 'GET', `/object?id=${created.body.id}`)).body).toEqual(created.body);
});

test('POST /object rejects a missing or unknown structure and a title given twice', async () => {
	const server = await start();
	const missing = await call(server, 'POST', '/object', {title: 'x'});
	expect(missing.status).toBe(400);
	expect(missing.body.message).toBe(
		"Expected `structureId` to be one of the space's structures (RootPage, RootTag), got `undefined` (undefined)",
	);
	const unknown = await call(server, 'POST', '/object', {structureId: 'Nope'});
	expect(unknown.status).toBe(400);
	const twice = await call(server, 'POST', '/object', {
		structureId: 'RootPage',
		title: 'a',
		properties: {title: {type: 'title', title: {value: 'b'}}},
	});
	expect(twice.body.message).toBe('Expected `title` to be absent when `properties.title` is given, got `"a"` (string)');
	const noBody = await call(server, 'POST', '/object');
	expect(noBody.body.message).toBe('Expected `body` to be an object, got `undefined` (undefined)');
	expect(server.objectIds).toEqual([]);
});

test('PATCH /object replaces each named property and keeps the others', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const collection = '11111111-1111-4111-8111-111111111111';
	const patched = await call(server, 'PATCH', '/object', {
		id,
		title: 'Renamed',
		properties: {description: {type: 'text', text: 'new'}},
		collections: [collection],
	});
	expect(patched.status).toBe(200);
	const object = stored(server, id);
	expect(object.title).toBe('Renamed');
	expect(object.properties.counter).toEqual({type: 'number', number: 0});
	expect(object.properties.description).toEqual({type: 'text', text: 'new'});
	expect(object.collections).toEqual([collection]);
	expect(patched.body).toEqual(object);
});

test('PATCH /object answers 404 for an unknown object and 400 for malformed values', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	expect((await call(server, 'PATCH', '/object', {id: unknownId, title: 'x'})).status).toBe(404);
	const badValue = await call(server, 'PATCH', '/object', {id, properties: {counter: 5}});
	expect(badValue.status).toBe(400);
	expect(badValue.body.message).toBe('Expected `properties.counter` to be a property value `{type, [type]: value}`, got `5` (number)');
	const badCollection = await call(server, 'PATCH', '/object', {id, collections: ['x']});
	expect(badCollection.body.message).toBe('Expected `collections[0]` to be a UUID, got `"x"` (string)');
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 0});
});

test('PUT /object replaces the whole object but keeps id, structure and createdAt', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const before = stored(server, id);
	const put = await call(server, 'PUT', '/object', {id, properties: {description: {type: 'text', text: 'only'}}});
	expect(put.status).toBe(200);
	const after = stored(server, id);
	expect(after.properties).toEqual({description: {type: 'text', text: 'only'}});
	expect(after.title).toBeUndefined();
	expect(after.blocks).toEqual({});
	expect([after.structureId, after.createdAt]).toEqual([before.structureId, before.createdAt]);
	expect((await call(server, 'PUT', '/object', {id: unknownId})).status).toBe(404);
	expect((await call(server, 'PUT', '/object', {id, structureId: 'Nope'})).status).toBe(400);
});

test('DELETE /object removes the object; the id may come from the query or the body', async () => {
	const server = await start({objects: 2});
	const [first, second] = server.objectIds;
	expect((await call(server, 'DELETE', `/object?id=${first}&hardDelete=true`)).body).toEqual({id: first});
	expect((await call(server, 'DELETE', '/object', {id: second})).status).toBe(200);
	expect(server.objectIds).toEqual([]);
	expect((await call(server, 'GET', `/object?id=${first}`)).status).toBe(404);
	expect((await call(server, 'DELETE', `/object?id=${first}`)).status).toBe(404);
});

test('PATCH /object/markdown replaces the main block tree and GET /object/markdown renders it', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const markdown = '# Plan\n\nFirst line\nsecond line\n\n- item\n\n1. step\n\n```js\nlet a = 1;\n```\n\n$$\nx^2\n$$\n\n---';
	const patched = await call(server, 'PATCH', '/object/markdown', {id, markdown});
	expect(patched.status).toBe(200);
	expect(content(server, id).map(block => block.type)).toEqual([
		'TextBlock',
		'TextBlock',
		'TextBlock',
		'TextBlock',
		'CodeBlock',
		'MathBlock',
		'HorizontalLineBlock',
	]);
	expect(content(server, id)[0]?.hierarchy).toEqual({key: 'Heading', val: 1});
	expect((await call(server, 'GET', `/object/markdown?id=${id}`)).body).toEqual({id, markdown});
	expect((await call(server, 'PATCH', '/object/markdown', {id})).status).toBe(400);
	expect((await call(server, 'GET', `/object/markdown?id=${unknownId}`)).status).toBe(404);
});

// Blocks

test('POST /blocks/append inserts at the end, at the start, after a block and inside a parent', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const [first, group] = content(server, id);
	const end = await call<{id: string; blocks: LwwBlock[]}>(server, 'POST', '/blocks/append', {id, blocks: [text('end')]});
	expect(end.status).toBe(200);
	expect(end.body.blocks[0]?.id).toMatch(uuidPattern);
	await call(server, 'POST', '/blocks/append', {id, blocks: [text('start')], position: {type: 'start'}});
	await call(server, 'POST', '/blocks/append', {
		id,
		blocks: [text('after first')],
		position: {type: 'after_block', blockId: first?.id},
	});
	await call(server, 'POST', '/blocks/append', {id, blocks: [text('nested')], parentBlockId: group?.id});
	const blocks = content(server, id);
	expect(blocks.map(block => textOf(block) || block.type)).toEqual([
		'start',
		'First paragraph',
		'after first',
		'GroupBlock',
		'GridBlock',
		'end',
	]);
	expect(blocks[3]?.blocks?.map(block => textOf(block))).toEqual(['Nested item', 'nested']);
});

test('POST /blocks/append rejects leaf parents, unknown blocks, a parent with after_block and reused ids', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const [first, , grid] = content(server, id);
	const leaf = await call(server, 'POST', '/blocks/append', {id, blocks: [text('x')], parentBlockId: grid?.id});
	expect(leaf.status).toBe(400);
	expect(leaf.body.message).toContain('Expected `parentBlockId` to be the id of a TextBlock or GroupBlock');
	const unknown = await call(server, 'POST', '/blocks/append', {id, blocks: [text('x')], parentBlockId: unknownId});
	expect(unknown.status).toBe(404);
	const both = await call(server, 'POST', '/blocks/append', {
		id,
		blocks: [text('x')],
		parentBlockId: first?.id,
		position: {type: 'after_block', blockId: first?.id},
	});
	expect(both.status).toBe(400);
	const reused = await call(server, 'POST', '/blocks/append', {id, blocks: [{...text('x'), id: first?.id}]});
	expect(reused.status).toBe(400);
	const malformed = await call(server, 'POST', '/blocks/append', {id, blocks: [{tokens: []}]});
	expect(malformed.body.message).toBe('Expected `blocks[0].type` to be a block type such as `"TextBlock"`, got `undefined` (undefined)');
	expect((await call(server, 'POST', '/blocks/append', {id: unknownId, blocks: []})).status).toBe(404);
	expect(content(server, id)).toHaveLength(3);
});

test('POST /blocks/markdown/append appends the parsed blocks', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const appended = await call(server, 'POST', '/blocks/markdown/append', {
		id,
		markdown: '## Added\n\nbody',
		position: {type: 'start'},
	});
	expect(appended.status).toBe(200);
	expect(content(server, id).slice(0, 2).map(block => textOf(block))).toEqual(['Added', 'body']);
	expect((await call(server, 'POST', '/blocks/markdown/append', {id, markdown: 3})).status).toBe(400);
});

test('PATCH /blocks/block replaces one block and keeps its id, with or without the object id', async () => {
	const server = await start({objects: 2});
	const [id, other] = server.objectIds as [string, string];
	const [first, group] = content(server, id);
	const byBlockId = await call<{id: string; block: LwwBlock}>(server, 'PATCH', '/blocks/block', {block: {...text('replaced'), id: first?.id}});
	expect(byBlockId.status).toBe(200);
	expect(byBlockId.body.id).toBe(id);
	const nested = group?.blocks?.[0];
	await call(server, 'PATCH', '/blocks/block', {id, blockId: nested?.id, block: text('nested replaced')});
	const blocks = content(server, id);
	expect([blocks[0]?.id, textOf(blocks[0])]).toEqual([first?.id, 'replaced']);
	expect([blocks[1]?.blocks?.[0]?.id, textOf(blocks[1]?.blocks?.[0])]).toEqual([nested?.id, 'nested replaced']);
	expect((await call(server, 'PATCH', '/blocks/block', {blockId: unknownId, block: text('x')})).status).toBe(404);
	const wrongObject = await call(server, 'PATCH', '/blocks/block', {id: other, blockId: first?.id, block: text('x')});
	expect(wrongObject.status).toBe(404);
	expect((await call(server, 'PATCH', '/blocks/block', {blockId: first?.id})).status).toBe(400);
});

test('DELETE /blocks/block removes a nested block', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const nested = content(server, id)[1]?.blocks?.[0];
	const deleted = await call(server, 'DELETE', `/blocks/block?blockId=${nested?.id}`);
	expect(deleted.body).toEqual({id, blockId: nested?.id});
	expect(content(server, id)[1]?.blocks).toEqual([]);
	expect((await call(server, 'DELETE', '/blocks/block', {blockId: nested?.id})).status).toBe(404);
});

test('PUT /object/blocks replaces a block tree or the whole block map', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	await call(server, 'PUT', '/object/blocks', {id, blocks: [text('only')]});
	expect(content(server, id).map(block => textOf(block))).toEqual(['only']);
	await call(server, 'PUT', '/object/blocks', {id, blocks: {notes: [text('note')]}});
	expect(Object.keys(stored(server, id).blocks)).toEqual(['notes']);
	const invalid = await call(server, 'PUT', '/object/blocks', {id, propertyId: 'content', blocks: {}});
	expect(invalid.status).toBe(400);
});

// Reads sent as POST and listing

test('POST /objects/search finds objects by title and block text and GET /objects lists them all', async () => {
	const server = await start({objects: 3});
	const byTitle = await call<{results: Listed[]}>(server, 'POST', '/objects/search', {query: 'object 2'});
	expect(byTitle.body.results.map(result => result.id)).toEqual([server.objectIds[1]]);
	const byBlock = await call<{results: Listed[]}>(server, 'POST', '/objects/search', {query: 'RIGHT COLUMN'});
	expect(byBlock.body.results).toHaveLength(3);
	expect((await call(server, 'POST', '/objects/search', {})).status).toBe(400);
	const list = await call<{objects: Listed[]}>(server, 'GET', '/objects');
	expect(list.body.objects.map(object => object.id)).toEqual(server.objectIds);
	expect(server.report().log.filter(entry => entry.path === '/objects/search').map(entry => entry.kind)).toEqual([
		'read',
		'read',
		'read',
	]);
});

test('unknown endpoints answer 404, malformed JSON 400 and oversized bodies 413', async () => {
	const server = await start();
	const unknown = await call(server, 'GET', '/objects/1');
	expect(unknown).toMatchObject({status: 404, body: {code: 'cap_not_found', message: 'No endpoint GET /objects/1'}});
	expect((await call(server, 'PUT', '/space')).status).toBe(404);
	const malformed = await fetch(`${server.url}/object`, {
		method: 'POST',
		headers: {authorization: `Bearer ${server.token}`},
		body: '{nope',
	});
	expect(malformed.status).toBe(400);
	expect(((await malformed.json()) as {code: string}).code).toBe('cap_invalid_input');
	const large = await call(server, 'POST', '/object', {structureId: 'RootPage', title: 'x'.repeat(1024 * 1024)});
	expect(large.status).toBe(413);
});

// The lost-update hazard and the auditor

test('two concurrent PATCHes of different properties of one object lose one change and count as an overlap', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const release = server.hold();
	const counter = call(server, 'PATCH', '/object', {id, properties: {counter: {type: 'number', number: 1}}});
	const description = call(server, 'PATCH', '/object', {id, properties: {description: {type: 'text', text: 'set'}}});
	await server.whenInFlight(2);
	release();
	expect((await counter).status).toBe(200);
	expect((await description).status).toBe(200);
	const {properties} = stored(server, id);
	const kept = [properties.counter?.number === 1, properties.description !== undefined];
	expect(kept.filter(Boolean)).toHaveLength(1);
	const report = server.report();
	expect(report.overlaps).toBe(1);
	expect(report.overlapsByObject).toEqual({[id]: 1});
	expect(report.maxInFlightByObject).toEqual({[id]: 2});
	expect(report.writes[id]?.map(write => write.status)).toEqual([200, 200]);
});

test('sequential PATCHes keep both changes and count no overlap', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, properties: {counter: {type: 'number', number: 1}}});
	await call(server, 'PATCH', '/object', {id, properties: {description: {type: 'text', text: 'set'}}});
	const {properties} = stored(server, id);
	expect([properties.counter?.number, properties.description?.text]).toEqual([1, 'set']);
	const report = server.report();
	expect([report.overlaps, report.overlapsByObject, report.maxInFlightByObject]).toEqual([0, {}, {[id]: 1}]);
	const [first, second] = report.writes[id] ?? [];
	expect(first!.end).toBeLessThanOrEqual(second!.start);
});

test('a block append and a block patch of one object tree overlap on that object', async () => {
	const server = await start({objects: 2});
	const [id, other] = server.objectIds as [string, string];
	const first = content(server, id)[0];
	const release = server.hold();
	const append = call(server, 'POST', '/blocks/append', {id, blocks: [text('appended')]});
	const patch = call(server, 'PATCH', '/blocks/block', {block: {...text('patched'), id: first?.id}});
	const elsewhere = call(server, 'PATCH', '/object', {id: other, title: 'elsewhere'});
	await server.whenInFlight(3);
	release();
	expect([(await append).status, (await patch).status, (await elsewhere).status]).toEqual([200, 200, 200]);
	const report = server.report();
	expect(report.overlaps).toBe(1);
	expect(report.overlapsByObject).toEqual({[id]: 1});
	expect(report.maxInFlightByObject).toEqual({[id]: 2, [other]: 1});
	const texts = content(server, id).map(block => textOf(block));
	const kept = [texts.includes('appended'), texts.includes('patched')];
	expect(kept.filter(Boolean)).toHaveLength(1);
});

test('concurrent GETs overlap in the log but never count as overlaps', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const release = server.hold();
	const reads = [
		call(server, 'GET', `/object?id=${id}`),
		call(server, 'GET', `/object?id=${id}`),
		call(server, 'POST', '/objects/search', {query: 'object'}),
	];
	const write = call(server, 'PATCH', '/object', {id, title: 'during reads'});
	await server.whenInFlight(4);
	release();
	await Promise.all([...reads, write]);
	const report = server.report();
	expect(report.overlaps).toBe(0);
	const readEntries = report.log.filter(entry => entry.kind === 'read');
	expect(readEntries).toHaveLength(3);
	expect(Math.max(...readEntries.map(entry => entry.start))).toBeLessThan(Math.min(...readEntries.map(entry => entry.end)));
});

// Rate limits

test('rateLimit answers 429 with Retry-After once the window is used up and sends RateLimit on every response', async () => {
	const server = await start({rateLimit: {limit: 2, interval: 60_000}});
	const first = await call(server, 'GET', '/space');
	const second = await call(server, 'GET', '/space/structures');
	const third = await call(server, 'GET', '/space');
	expect(first.headers.get('ratelimit')).toMatch(/^limit=2, remaining=1, reset=(60|59)$/);
	expect(second.headers.get('ratelimit')).toMatch(/^limit=2, remaining=0, reset=/);
	expect(third.status).toBe(429);
	expect(third.body.code).toBe('cap_rate_limit_exceeded');
	expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
	expect(third.headers.get('ratelimit')).toMatch(/^limit=2, remaining=0, reset=/);
	expect((await fetch(`${server.url}/space`)).headers.get('ratelimit')).toBeNull();
});

test("rateLimit per 'endpoint' counts each method and path separately", async () => {
	const server = await start({rateLimit: {limit: 1, interval: 60_000, per: 'endpoint'}});
	expect((await call(server, 'GET', '/space')).status).toBe(200);
	expect((await call(server, 'GET', '/space/structures')).status).toBe(200);
	expect((await call(server, 'GET', '/space')).status).toBe(429);
});

test('responses carry no RateLimit header without a rate limit', async () => {
	const server = await start();
	expect((await call(server, 'GET', '/space')).headers.get('ratelimit')).toBeNull();
});

// Faults

test('500 and 503 faults answer that status without applying the write', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	server.injectFaults([500, 503]);
	const first = await call(server, 'PATCH', '/object', {id, title: 'one'});
	const second = await call(server, 'PATCH', '/object', {id, title: 'two'});
	expect([first.status, first.body.code, second.status, second.body.code]).toEqual([
		500,
		'cap_internal_error',
		503,
		'cap_service_unavailable',
	]);
	expect(stored(server, id).title).toBe('Object 1');
	expect((await call(server, 'PATCH', '/object', {id, title: 'three'})).status).toBe(200);
});

test('429 faults answer cap_rate_limit_exceeded with Retry-After (1 s, or the seconds given) without applying the write', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	server.injectFaults([429, {retryAfter: 0}, {retryAfter: 30}]);
	const answers = [];
	for (const title of ['one', 'two', 'three']) {
		answers.push(await call(server, 'PATCH', '/object', {id, title}));
	}

	expect(answers.map(answer => [answer.status, answer.body.code, answer.headers.get('retry-after')])).toEqual([
		[429, 'cap_rate_limit_exceeded', '1'],
		[429, 'cap_rate_limit_exceeded', '0'],
		[429, 'cap_rate_limit_exceeded', '30'],
	]);
	expect(stored(server, id).title).toBe('Object 1');
	expect(server.version(id)).toBe(1);
	expect((await call(server, 'PATCH', '/object', {id, title: 'four'})).status).toBe(200);
});

test('a write whose client aborted it is still applied when its wait ends, as a server that received it would', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	const release = server.hold();
	const controller = new AbortController();
	const sent = fetch(`${server.url}/object`, {
		method: 'PATCH',
		headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json'},
		body: JSON.stringify({id, title: 'ghost'}),
		signal: controller.signal,
	});
	await server.whenInFlight(1);
	controller.abort();
	await expect(sent).rejects.toThrow(/abort/i);
	expect(stored(server, id).title).toBe('Object 1');
	release();
	expect((await call<{title: string}>(server, 'GET', `/object?id=${id}`)).body.title).toBe('ghost');
	expect(server.report().writes[id]?.map(write => write.status)).toEqual([200]);
});

test('a reset-before fault drops the connection before the write is applied', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	server.injectFaults(['reset-before']);
	await expect(call(server, 'PATCH', '/object', {id, title: 'lost'})).rejects.toThrow(TypeError);
	expect(stored(server, id).title).toBe('Object 1');
	expect(server.report().log.at(-1)).toMatchObject({method: 'PATCH', status: 0});
});

test('a reset-after fault applies the write although the client gets a network error', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	server.injectFaults(['reset-after']);
	await expect(call(server, 'PATCH', '/object', {id, title: 'applied'})).rejects.toThrow(TypeError);
	expect(stored(server, id).title).toBe('applied');
	expect(server.report().writes[id]?.map(write => write.status)).toEqual([0]);
});

test('a slow fault delays only its own request', async () => {
	const server = await start();
	server.injectFaults([{slow: 250}]);
	const slow = call(server, 'GET', '/space');
	await server.whenInFlight(1);
	const fast = await call(server, 'GET', '/space/structures');
	expect(fast.status).toBe(200);
	expect(server.report().log.map(entry => entry.path)).toEqual(['/space/structures']);
	expect((await slow).status).toBe(200);
	expect(server.report().log.map(entry => entry.path)).toEqual(['/space/structures', '/space']);
});

test('a fault function decides per request from method, path and n', async () => {
	const seen: string[] = [];
	const server = await start({
		objects: 1,
		faults(request) {
			seen.push(`${request.n} ${request.method} ${request.path}`);
			return request.method === 'PATCH' ? 503 : undefined;
		},
	});
	const id = firstId(server);
	expect((await call(server, 'GET', `/object?id=${id}`)).status).toBe(200);
	expect((await call(server, 'PATCH', '/object', {id, title: 'x'})).status).toBe(503);
	expect(seen).toEqual(['1 GET /object', '2 PATCH /object']);
	server.reset();
	await call(server, 'GET', '/space');
	expect(seen.at(-1)).toBe('1 GET /space');
});

test('a fault function returning something else answers 500 naming the value', async () => {
	const server = await start({faults: () => 404 as never});
	const answer = await call(server, 'GET', '/space');
	expect(answer.status).toBe(500);
	expect(answer.body.message).toMatch(/^Expected `faults` to return .* or undefined, got `404` \(number\)$/);
});

test('random faults follow the seed: rate 1 hits every request, the same seed repeats the same kinds', async () => {
	const statuses = async (seed: number): Promise<number[]> => {
		const server = await start({seed, faults: {rate: 1, kinds: [500, 503]}});
		const result: number[] = [];
		for (let index = 0; index < 8; index++) {
			result.push((await call(server, 'GET', '/space')).status);
		}

		return result;
	};

	const first = await statuses(7);
	expect(first.every(status => status === 500 || status === 503)).toBe(true);
	expect(new Set(first).size).toBe(2);
	expect(await statuses(7)).toEqual(first);
	const none = await start({faults: {rate: 0}});
	expect((await call(none, 'GET', '/space')).status).toBe(200);
});

test('injectFaults scripts the next requests in order, undefined meaning no fault', async () => {
	const server = await start({faults: {rate: 1, kinds: [503]}});
	server.injectFaults([500, undefined]);
	const statuses: number[] = [];
	for (let index = 0; index < 3; index++) {
		statuses.push((await call(server, 'GET', '/space')).status);
	}

	expect(statuses).toEqual([500, 200, 503]);
	expect(() => {
		server.injectFaults(['boom' as never]);
	}).toThrow("Expected `next[0]` to be `500`, `503`, `429`, `'reset-before'`, `'reset-after'`, `{slow: ms}` with ms >= 0 or `{retryAfter: seconds}` with an integer >= 0, got `\"boom\"` (string)");
});

test('report().faults counts the injected faults by kind, scripted and random alike', async () => {
	const server = await start({objects: 1, faults: {rate: 1, kinds: [{slow: 0}]}});
	const id = firstId(server);
	server.injectFaults([500, 503, 429, {retryAfter: 0}, 'reset-before', 'reset-after', undefined]);
	for (let index = 0; index < 9; index++) {
		await call(server, 'PATCH', '/object', {id, title: `t${index}`}).catch(() => undefined);
	}

	expect(server.report().faults).toEqual({'500': 1, '503': 1, '429': 2, 'reset-before': 1, 'reset-after': 1, slow: 2});
	server.reset();
	expect(server.report().faults).toEqual({});
});

test('faults hit only accepted requests: a request refused for its token gets no fault', async () => {
	const server = await start({faults: {rate: 1, kinds: [503]}});
	expect((await fetch(`${server.url}/space`)).status).toBe(401);
	expect(server.report().faults).toEqual({});
	expect((await call(server, 'GET', '/space')).status).toBe(503);
	expect(server.report().faults).toEqual({'503': 1});
});

// Report, reset, close

test('report() counts requests by method and logs each with kind, object and status', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	await fetch(`${server.url}/space`);
	await call(server, 'GET', `/object?id=${id}`);
	await call(server, 'PATCH', '/object', {id, title: 'x'});
	await call(server, 'DELETE', `/object?id=${unknownId}`);
	const report = server.report();
	expect(report.requests).toEqual({GET: 2, PATCH: 1, DELETE: 1});
	expect(report.total).toBe(4);
	expect(report.log.map(({method, path, objectId, kind, status}) => ({method, path, objectId, kind, status}))).toEqual([
		{method: 'GET', path: '/space', objectId: undefined, kind: 'read', status: 401},
		{method: 'GET', path: '/object', objectId: id, kind: 'read', status: 200},
		{method: 'PATCH', path: '/object', objectId: id, kind: 'write', status: 200},
		{method: 'DELETE', path: '/object', objectId: unknownId, kind: 'write', status: 404},
	]);
	for (const entry of report.log) {
		expect(entry.end).toBeGreaterThanOrEqual(entry.start);
	}

	expect(Object.keys(report.writes)).toEqual([id, unknownId]);
});

test('reset() clears counters and the log but keeps the data', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, title: 'kept'});
	server.reset();
	expect(server.report()).toEqual({
		requests: {},
		total: 0,
		overlaps: 0,
		overlapsByObject: {},
		conflicts: 0,
		faults: {},
		maxInFlightByObject: {},
		writes: {},
		log: [],
	});
	expect(stored(server, id).title).toBe('kept');
});

test('object() and report() return copies', async () => {
	const server = await start({objects: 1});
	const id = firstId(server);
	stored(server, id).properties.counter = {type: 'number', number: 99};
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 0});
	(server.report().requests as Record<string, number>).GET = 5;
	expect(server.report().requests).toEqual({});
	expect(server.object(unknownId)).toBeUndefined();
});

test('close() drops idle keep-alive connections and requests in flight, then refuses connections', async () => {
	const server = await startLwwServer({latency: 1});
	// Leaves an idle keep-alive connection: close() resolves only once every connection is gone.
	expect((await call(server, 'GET', '/space')).status).toBe(200);
	server.hold();
	const held = call(server, 'GET', '/space');
	const waiting = server.whenInFlight(2).catch((error: unknown) => error);
	await server.whenInFlight(1);
	await server.close();
	await expect(held).rejects.toThrow(TypeError);
	expect(await waiting).toMatchObject({name: 'ServerClosedError', message: 'The server closed'});
	await expect(call(server, 'GET', '/space')).rejects.toThrow(TypeError);
	await expect(server.whenInFlight(1)).rejects.toThrow('The server is closed');
	await server.close();
	expect(server.inFlight).toBe(0);
});

test('whenInFlight() validates its count and rejects with the signal reason on abort', async () => {
	const server = await start();
	await expect(server.whenInFlight(0)).rejects.toThrow('Expected `count` to be an integer >= 1, got `0` (number)');
	const controller = new AbortController();
	const waiting = server.whenInFlight(1, {signal: controller.signal});
	controller.abort(new Error('gave up'));
	await expect(waiting).rejects.toThrow('gave up');
});

// Seeds and options

test('the same seed gives the same ids; another seed other ids', async () => {
	const a = await start({objects: 3, seed: 42});
	const b = await start({objects: 3, seed: 42});
	const c = await start({objects: 3, seed: 43});
	expect(a.objectIds).toEqual(b.objectIds);
	expect(a.spaceId).toBe(b.spaceId);
	expect(c.objectIds).not.toEqual(a.objectIds);
	for (const id of a.objectIds) {
		expect(id).toMatch(uuidPattern);
	}
});

test('objects given as an array keep their ids and get block ids assigned', async () => {
	const id = '22222222-2222-4222-8222-222222222222';
	const server = await start({
		objects: [{id, structureId: 'Book', title: 'Seeded', blocks: {content: [{type: 'GroupBlock', blocks: [{type: 'TextBlock'}]}]}}, {}],
	});
	expect(server.objectIds[0]).toBe(id);
	expect(server.objectIds).toHaveLength(2);
	const object = stored(server, id);
	expect(object.title).toBe('Seeded');
	expect(object.blocks.content?.[0]?.blocks?.[0]?.id).toMatch(uuidPattern);
	const structures = await call<{structures: Listed[]}>(server, 'GET', '/space/structures');
	expect(structures.body.structures.map(structure => structure.id)).toContain('Book');
	expect((await call(server, 'POST', '/object', {structureId: 'Book'})).status).toBe(201);
});

test.each<[string, unknown, string]>([
	['options', 5, 'Expected `options` to be an object, got `5` (number)'],
	['unknown key', {latencey: 5}, 'Expected `latencey` to be absent: it is not an option (known: port, host, token, latency, seed, objects, mode, rateLimit, faults), got `5` (number)'],
	['port', {port: 70_000}, 'Expected `port` to be an integer from 0 to 65535, got `70000` (number)'],
	['host', {host: ''}, 'Expected `host` to be a non-empty string, got `""` (string)'],
	['token type', {token: 5}, 'Expected `token` to be a non-empty string of visible ASCII characters, got `5` (number)'],
	['token content', {token: 'has space'}, 'Expected `token` to be a non-empty string of visible ASCII characters, got a string of length 9'],
	['latency', {latency: -1}, 'Expected `latency` to be a number >= 0 or a `[min, max]` pair of numbers with 0 <= min <= max, got `-1` (number)'],
	['latency range', {latency: [5, 1]}, 'Expected `latency` to be a number >= 0 or a `[min, max]` pair of numbers with 0 <= min <= max, got `[array of 2]` (array)'],
	['seed', {seed: 1.5}, 'Expected `seed` to be a safe integer, got `1.5` (number)'],
	['objects', {objects: -1}, 'Expected `objects` to be an integer from 0 to 100000 or an array of objects, got `-1` (number)'],
	['objects[i].id', {objects: [{id: 'x'}]}, 'Expected `objects[0].id` to be a UUID, got `"x"` (string)'],
	['objects[i].blocks', {objects: [{blocks: {content: [5]}}]}, 'Expected `objects[0].blocks.content[0]` to be an object, got `5` (number)'],
	['duplicate ids', {objects: [{id: unknownId}, {id: unknownId}]}, `Expected \`objects[1].id\` to be a UUID no other object has, got \`"${unknownId}"\` (string)`],
	['mode', {mode: 'crdt'}, "Expected `mode` to be `'lww'`, `'etag'` or `'version'`, got `\"crdt\"` (string)"],
	['rateLimit', {rateLimit: 5}, 'Expected `rateLimit` to be an object `{limit, interval}` or `false`, got `5` (number)'],
	['rateLimit.limit', {rateLimit: {limit: 0, interval: 1000}}, 'Expected `rateLimit.limit` to be an integer >= 1, got `0` (number)'],
	['rateLimit.interval', {rateLimit: {limit: 1}}, 'Expected `rateLimit.interval` to be an integer >= 1 (milliseconds), got `undefined` (undefined)'],
	['rateLimit.per', {rateLimit: {limit: 1, interval: 1, per: 'ip'}}, "Expected `rateLimit.per` to be `'token'` or `'endpoint'`, got `\"ip\"` (string)"],
	['faults', {faults: 'often'}, 'Expected `faults` to be an object `{rate, kinds}`, a function or `false`, got `"often"` (string)'],
	['faults.rate', {faults: {rate: 2}}, 'Expected `faults.rate` to be a number from 0 to 1, got `2` (number)'],
	['faults.kinds', {faults: {kinds: []}}, 'Expected `faults.kinds` to be a non-empty array of fault kinds, got `[array of 0]` (array)'],
	['faults.kinds[i]', {faults: {kinds: [500, {slow: -1}]}}, "Expected `faults.kinds[1]` to be `500`, `503`, `429`, `'reset-before'`, `'reset-after'`, `{slow: ms}` with ms >= 0 or `{retryAfter: seconds}` with an integer >= 0, got `[Object]` (object)"],
	['faults.kinds[i] retryAfter', {faults: {kinds: [{retryAfter: 1.5}]}}, "Expected `faults.kinds[0]` to be `500`, `503`, `429`, `'reset-before'`, `'reset-after'`, `{slow: ms}` with ms >= 0 or `{retryAfter: seconds}` with an integer >= 0, got `[Object]` (object)"],
	['faults unknown key', {faults: {rate: 1, kind: [500]}}, 'Expected `faults.kind` to be absent (known keys: `rate`, `kinds`), got `[array of 1]` (array)'],
])('startLwwServer() rejects an invalid %s with a precise TypeError', async (_name, options, message) => {
	const error = await startLwwServer(options as LwwServerOptions).then(
		async server => {
			await server.close();
			return undefined;
		},
		(error: unknown) => error,
	);
	expect(error).toBeInstanceOf(TypeError);
	expect((error as TypeError).message).toBe(message);
});

test('a [min, max] latency and `false` for rateLimit and faults are accepted', async () => {
	const server = await start({latency: [0, 2], rateLimit: false, faults: false, port: 0, host: '127.0.0.1'});
	expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
	expect(server.mode).toBe('lww');
	expect((await call(server, 'GET', '/space')).status).toBe(200);
});

test('contents() - two servers given the same writes agree, and block ids are left out', async () => {
	const [first, second] = await Promise.all([start({seed: 7, objects: 1}), start({seed: 7, objects: 1})]);
	for (const server of [first, second]) {
		await call(server, 'POST', '/blocks/append', {id: firstId(server), blocks: [text('appended')]});
	}

	expect(first.contents()).toEqual(second.contents());
	expect(first.contents().map(object => object.id)).toEqual(first.objectIds);
	const blocks = JSON.stringify(first.contents()[0]!.blocks);
	expect(blocks).toContain('appended');
	expect(blocks).not.toContain('"id"');
	expect(JSON.stringify(first.object(firstId(first))!.blocks)).toContain('"id"');

	await call(first, 'POST', '/blocks/append', {id: firstId(first), blocks: [text('only here')]});
	expect(first.contents()).not.toEqual(second.contents());
});
