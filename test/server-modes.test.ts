import {expect, test} from 'vitest';
import {type LwwBlock, type LwwObject, type LwwServer, type LwwServerOptions, startLwwServer} from '../src/testing/index.js';
import {call, firstId, start as startServer, stored, text, unknownId} from './server-helpers.js';

/** A reference server with one object, closed when the test ends. */
async function start(options: LwwServerOptions = {}): Promise<LwwServer> {
	return startServer({objects: 1, ...options});
}

type Versioned = LwwObject & {version: number};
type PreconditionBody = {error: {status: number; code: string; message: string}};
type SquareBody = {errors: Array<{category: string; code: string; detail: string; field: string}>};

function firstBlock(server: LwwServer, id: string): LwwBlock {
	const block = stored(server, id).blocks.content?.[0];
	if (!block) {
		throw new Error(`object ${id} has no blocks`);
	}

	return block;
}

function counter(number: number): Record<string, unknown> {
	return {counter: {type: 'number', number}};
}


/**
Sends `count` writes built by `send(i)` one after another (each has read the stored object before the
next is sent), holds them all in their wait at once, then lets them write back in arrival order.
*/
async function overlapping<T>(server: LwwServer, count: number, send: (index: number) => Promise<T>): Promise<T[]> {
	const release = server.hold();
	const pending: Array<Promise<T>> = [];
	for (let index = 0; index < count; index++) {
		pending.push(send(index));
		await server.whenInFlight(index + 1);
	}

	release();
	return Promise.all(pending);
}

// 'etag' mode

test("'etag' mode - object answers carry a strong ETag that every mutation increases", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	const read = await call(server, 'GET', `/object?id=${id}`);
	expect(read.headers.get('etag')).toBe('"1"');
	const patched = await call<LwwObject>(server, 'PATCH', '/object', {id, properties: counter(1)});
	expect(patched.headers.get('etag')).toBe('"2"');
	const put = await call(server, 'PUT', '/object', {id, title: 'Replaced'});
	expect(put.headers.get('etag')).toBe('"3"');
	const markdown = await call(server, 'PATCH', '/object/markdown', {id, markdown: 'hello'});
	expect(markdown.headers.get('etag')).toBe('"4"');
	expect((await call(server, 'GET', `/object/markdown?id=${id}`)).headers.get('etag')).toBe('"4"');
	expect((await call(server, 'GET', `/object?id=${id}`)).headers.get('etag')).toBe('"4"');
	expect(server.version(id)).toBe(4);
	const created = await call<LwwObject>(server, 'POST', '/object', {structureId: 'RootPage', title: 'New'});
	expect(created.status).toBe(201);
	expect(created.headers.get('etag')).toBe('"1"');
	expect(created.body).not.toHaveProperty('version');
});

test("'etag' mode - GET /object with a matching If-None-Match answers 304 with the ETag and no body", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	for (const field of ['"1"', 'W/"1"', '*', '"7", "1"', '"7",W/"1"']) {
		const answer = await call(server, 'GET', `/object?id=${id}`, undefined, {'if-none-match': field});
		expect([field, answer.status, answer.text, answer.headers.get('etag')]).toEqual([field, 304, '', '"1"']);
	}

	const other = await call<LwwObject>(server, 'GET', `/object?id=${id}`, undefined, {'if-none-match': '"2", 1'});
	expect(other.status).toBe(200);
	expect(other.body.id).toBe(id);
	await call(server, 'PATCH', '/object', {id, properties: counter(1)});
	const changed = await call<LwwObject>(server, 'GET', `/object?id=${id}`, undefined, {'if-none-match': '"1"'});
	expect(changed.status).toBe(200);
	expect(changed.headers.get('etag')).toBe('"2"');
	expect(changed.body.properties.counter).toEqual({type: 'number', number: 1});
});

test("'etag' mode - a stale If-Match answers 412 precondition_failed with the current ETag and writes nothing", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, properties: counter(1)});
	const before = stored(server, id);
	const stale = await call<PreconditionBody>(server, 'PATCH', '/object', {id, properties: counter(2)}, {'if-match': '"1"'});
	expect(stale.status).toBe(412);
	expect(stale.body).toEqual({
		error: {status: 412, code: 'precondition_failed', message: `If-Match does not match the current ETag "2" of object ${id}`},
	});
	expect(stale.headers.get('etag')).toBe('"2"');
	expect(stored(server, id)).toEqual(before);
	expect(server.version(id)).toBe(2);
	expect(server.report().conflicts).toBe(1);
	expect(server.report().log.at(-1)).toMatchObject({method: 'PATCH', objectId: id, kind: 'write', status: 412});
});

test("'etag' mode - a matching If-Match (one tag, a list or *) is applied and bumps the ETag", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	const one = await call<LwwObject>(server, 'PATCH', '/object', {id, properties: counter(1)}, {'if-match': '"1"'});
	expect([one.status, one.headers.get('etag'), one.body.properties.counter]).toEqual([200, '"2"', {type: 'number', number: 1}]);
	const list = await call(server, 'PATCH', '/object', {id, properties: counter(2)}, {'if-match': '"9", "2"'});
	expect([list.status, list.headers.get('etag')]).toEqual([200, '"3"']);
	const any = await call(server, 'PATCH', '/object', {id, properties: counter(3)}, {'if-match': '*'});
	expect([any.status, any.headers.get('etag')]).toEqual([200, '"4"']);
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 3});
	expect(server.report().conflicts).toBe(0);
});

test("'etag' mode - a weak or unquoted If-Match never matches", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	for (const field of ['W/"1"', '1', 'W/"1", "2"']) {
		const answer = await call(server, 'PATCH', '/object', {id, properties: counter(5)}, {'if-match': field});
		expect([field, answer.status]).toEqual([field, 412]);
	}

	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 0});
	expect(server.version(id)).toBe(1);
	expect(server.report().conflicts).toBe(3);
});

test("'etag' mode - without If-Match a write is applied, and unconditional writes still lose updates", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, properties: counter(1)});
	const answers = await overlapping(server, 2, index =>
		call(server, 'PATCH', '/object', {
			id,
			properties: index === 0 ? counter(2) : {description: {type: 'text', text: 'set'}},
		}),
	);
	expect(answers.map(answer => answer.status)).toEqual([200, 200]);
	const {properties} = stored(server, id);
	// Both read version 2 before the wait: the second write-back drops the first one's change.
	expect([properties.counter?.number, properties.description?.text]).toEqual([1, 'set']);
	expect(server.version(id)).toBe(4);
	expect(server.report()).toMatchObject({overlaps: 1, conflicts: 0});
});

test("'etag' mode - concurrent writes with the same If-Match: exactly one wins, the others get 412", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	const answers = await overlapping(server, 3, index =>
		call<PreconditionBody>(server, 'PATCH', '/object', {id, properties: counter(index + 1)}, {'if-match': '"1"'}),
	);
	// They write back in arrival order: the first one wins.
	expect(answers.map(answer => answer.status)).toEqual([200, 412, 412]);
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 1});
	expect(server.version(id)).toBe(2);
	for (const answer of answers.filter(answer => answer.status === 412)) {
		expect(answer.body.error.code).toBe('precondition_failed');
		expect(answer.headers.get('etag')).toBe('"2"');
	}

	// The writes overlapped all the same; what changed is that the stale ones were refused.
	expect(server.report()).toMatchObject({overlaps: 2, conflicts: 2});
});

test("'etag' mode - block writes bump the ETag and honour If-Match", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	const appended = await call<{id: string; blocks: LwwBlock[]}>(server, 'POST', '/blocks/append', {id, blocks: [text('end')]}, {'if-match': '"1"'});
	expect([appended.status, appended.headers.get('etag')]).toEqual([200, '"2"']);
	const block = firstBlock(server, id);
	const stale = await call(server, 'PATCH', '/blocks/block', {block: {...text('lost'), id: block.id}}, {'if-match': '"1"'});
	expect(stale.status).toBe(412);
	expect(firstBlock(server, id)).toEqual(block);
	const replaced = await call(server, 'PATCH', '/blocks/block', {block: {...text('kept'), id: block.id}}, {'if-match': '"2"'});
	expect([replaced.status, replaced.headers.get('etag')]).toEqual([200, '"3"']);
	const staleDelete = await call(server, 'DELETE', `/blocks/block?blockId=${block.id}`, undefined, {'if-match': '"2"'});
	expect(staleDelete.status).toBe(412);
	const deleted = await call(server, 'DELETE', `/blocks/block?blockId=${block.id}`, undefined, {'if-match': '"3"'});
	expect([deleted.status, deleted.headers.get('etag')]).toEqual([200, '"4"']);
	const tree = await call(server, 'PUT', '/object/blocks', {id, blocks: [text('only')]}, {'if-match': '"3"'});
	expect(tree.status).toBe(412);
	expect(server.version(id)).toBe(4);
	expect(server.report().conflicts).toBe(3);
});

test("'etag' mode - DELETE /object honours If-Match; a write that lost its object to a delete gets 412", async () => {
	const server = await start({mode: 'etag', objects: 2});
	const [first, second] = server.objectIds;
	const stale = await call(server, 'DELETE', `/object?id=${first}`, undefined, {'if-match': '"2"'});
	expect(stale.status).toBe(412);
	expect(server.object(first!)).toBeDefined();
	const deleted = await call(server, 'DELETE', `/object?id=${first}`, undefined, {'if-match': '"1"'});
	expect([deleted.status, deleted.headers.get('etag')]).toEqual([200, null]);
	expect(server.object(first!)).toBeUndefined();

	const release = server.hold();
	const removal = call(server, 'DELETE', `/object?id=${second}`);
	await server.whenInFlight(1);
	const update = call<PreconditionBody>(server, 'PATCH', '/object', {id: second, properties: counter(1)}, {'if-match': '"1"'});
	await server.whenInFlight(2);
	release();
	const [removed, refused] = await Promise.all([removal, update]);
	expect(removed.status).toBe(200);
	expect(refused.status).toBe(412);
	expect(refused.body.error.message).toBe(`If-Match cannot match: object ${second} does not exist`);
	expect(refused.headers.get('etag')).toBeNull();
	expect(server.object(second!)).toBeUndefined();
});

test("'etag' mode - an unconditional write racing a delete stores the object again with a newer ETag", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	const answers = await overlapping(server, 2, index =>
		index === 0 ? call(server, 'DELETE', `/object?id=${id}`) : call(server, 'PATCH', '/object', {id, properties: counter(1)}),
	);
	expect(answers.map(answer => [answer.status, answer.headers.get('etag')])).toEqual([
		[200, null],
		[200, '"2"'],
	]);
	// A client still holding "1" describes content older than the stored one: it must not match.
	expect((await call(server, 'PATCH', '/object', {id, title: 'x'}, {'if-match': '"1"'})).status).toBe(412);
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 1});
});

test("'etag' mode - If-None-Match on a write fails when it matches the stored object", async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	const any = await call<PreconditionBody>(server, 'PUT', '/object', {id, title: 'x'}, {'if-none-match': '*'});
	expect(any.status).toBe(412);
	expect(any.body.error.message).toBe(`If-None-Match matches the current ETag "1" of object ${id}`);
	expect((await call(server, 'PUT', '/object', {id, title: 'x'}, {'if-none-match': 'W/"1"'})).status).toBe(412);
	expect((await call(server, 'PUT', '/object', {id, title: 'x'}, {'if-none-match': '"5"'})).status).toBe(200);
	expect((await call(server, 'POST', '/object', {structureId: 'RootPage'}, {'if-none-match': '*'})).status).toBe(201);
	expect(stored(server, id).title).toBe('x');
});

test("'etag' mode - a write to an unknown object answers 404 even with If-Match", async () => {
	const server = await start({mode: 'etag'});
	const answer = await call<{code: string}>(server, 'PATCH', '/object', {id: unknownId, title: 'x'}, {'if-match': '"1"'});
	expect([answer.status, answer.body.code]).toEqual([404, 'cap_not_found']);
	expect(server.report().conflicts).toBe(0);
});

// 'version' mode

test("'version' mode - objects carry a version field that every mutation increases", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	const read = await call<Versioned>(server, 'GET', `/object?id=${id}`);
	expect(read.body.version).toBe(1);
	expect(read.headers.get('etag')).toBeNull();
	const patched = await call<Versioned>(server, 'PATCH', '/object', {id, properties: counter(1)});
	expect([patched.body.version, patched.body.properties.counter]).toEqual([2, {type: 'number', number: 1}]);
	const appended = await call<{id: string; blocks: LwwBlock[]; version: number}>(server, 'POST', '/blocks/append', {id, blocks: [text('x')]});
	expect(appended.body.version).toBe(3);
	expect((await call<Versioned>(server, 'GET', `/object?id=${id}`)).body.version).toBe(3);
	expect((await call<{version: number}>(server, 'GET', `/object/markdown?id=${id}`)).body.version).toBe(3);
	const created = await call<Versioned>(server, 'POST', '/object', {structureId: 'RootPage'});
	expect(created.body.version).toBe(1);
	expect(stored(server, id)).not.toHaveProperty('version');
});

test("'version' mode - a stale version answers 400 VERSION_MISMATCH and writes nothing", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, properties: counter(1)});
	const before = stored(server, id);
	const stale = await call<SquareBody>(server, 'PATCH', '/object', {id, version: 1, properties: counter(2)});
	expect(stale.status).toBe(400);
	expect(stale.body).toEqual({
		errors: [
			{
				category: 'INVALID_REQUEST_ERROR',
				code: 'VERSION_MISMATCH',
				detail: `Object ${id} is at version 2, the request has version 1`,
				field: 'version',
			},
		],
	});
	expect(stored(server, id)).toEqual(before);
	expect(server.version(id)).toBe(2);
	expect(server.report().conflicts).toBe(1);
});

test("'version' mode - a matching version is applied; without one the write is applied as last write wins", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	const matching = await call<Versioned>(server, 'PATCH', '/object', {id, version: 1, properties: counter(1)});
	expect([matching.status, matching.body.version]).toEqual([200, 2]);
	const unconditional = await call<Versioned>(server, 'PATCH', '/object', {id, properties: counter(2)});
	expect([unconditional.status, unconditional.body.version]).toEqual([200, 3]);
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 2});
	expect(server.report().conflicts).toBe(0);
});

test("'version' mode - clients cannot set the version", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, properties: counter(1)});
	await call(server, 'PATCH', '/object', {id, properties: counter(2)});
	// A PUT stating the current version replaces the content, and the counter moves on from the server's number.
	const put = await call<Versioned>(server, 'PUT', '/object', {id, version: 3, title: 'Replaced'});
	expect([put.status, put.body.version, put.body.title]).toEqual([200, 4, 'Replaced']);
	const again = await call<Versioned>(server, 'PUT', '/object', {id, version: 4, title: 'Again'});
	expect(again.body.version).toBe(5);
	expect(server.version(id)).toBe(5);
	expect(stored(server, id)).not.toHaveProperty('version');
	const created = await call<Versioned>(server, 'POST', '/object', {structureId: 'RootPage', properties: {version: {type: 'number', number: 9}}});
	expect(created.body.version).toBe(1);
	const init = {id: unknownId, version: 7};
	const seeded = await start({mode: 'version', objects: [init]});
	expect((await call<Versioned>(seeded, 'GET', `/object?id=${unknownId}`)).body.version).toBe(1);
});

test("'version' mode - concurrent writes stating the same version: exactly one wins", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	const answers = await overlapping(server, 3, index =>
		call<SquareBody>(server, 'PATCH', '/object', {id, version: 1, properties: counter(index + 1)}),
	);
	expect(answers.map(answer => answer.status)).toEqual([200, 400, 400]);
	expect(stored(server, id).properties.counter).toEqual({type: 'number', number: 1});
	for (const answer of answers.filter(answer => answer.status === 400)) {
		expect(answer.body.errors[0]?.code).toBe('VERSION_MISMATCH');
	}

	expect(server.version(id)).toBe(2);
	expect(server.report()).toMatchObject({overlaps: 2, conflicts: 2});
});

test("'version' mode - block writes bump the version and honour a stated version (body or ?version=)", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	const block = firstBlock(server, id);
	const stale = await call(server, 'PATCH', '/blocks/block', {version: 2, block: {...text('lost'), id: block.id}});
	expect(stale.status).toBe(400);
	expect(firstBlock(server, id)).toEqual(block);
	const replaced = await call<{block: LwwBlock; version: number}>(server, 'PATCH', '/blocks/block', {
		version: 1,
		block: {...text('kept'), id: block.id},
	});
	expect([replaced.status, replaced.body.version]).toEqual([200, 2]);
	const staleDelete = await call(server, 'DELETE', `/blocks/block?blockId=${block.id}&version=1`);
	expect(staleDelete.status).toBe(400);
	const deleted = await call<{version: number}>(server, 'DELETE', `/blocks/block?blockId=${block.id}&version=2`);
	expect([deleted.status, deleted.body.version]).toEqual([200, 3]);
	const staleAppend = await call(server, 'POST', '/blocks/markdown/append', {id, version: 2, markdown: 'x'});
	expect(staleAppend.status).toBe(400);
	const staleObjectDelete = await call(server, 'DELETE', '/object', {id, version: 2});
	expect(staleObjectDelete.status).toBe(400);
	expect(server.object(id)).toBeDefined();
	expect(server.version(id)).toBe(3);
	expect(server.report().conflicts).toBe(4);
});

test("'version' mode - a version that is not an integer is bad input, not a conflict", async () => {
	const server = await start({mode: 'version'});
	const id = firstId(server);
	const string = await call<{code: string; message: string}>(server, 'PATCH', '/object', {id, version: '1', title: 'x'});
	expect([string.status, string.body]).toEqual([
		400,
		{code: 'cap_invalid_input', message: 'Expected `version` to be an integer, got `"1"` (string)'},
	]);
	const query = await call<{message: string}>(server, 'DELETE', `/object?id=${id}&version=one`);
	expect(query.body.message).toBe('Expected `version` to be an integer, got `"one"` (string)');
	expect(server.version(id)).toBe(1);
	expect(server.report().conflicts).toBe(0);
});

// All modes

test("'lww' mode - no ETag, no version field, preconditions are ignored", async () => {
	const server = await start();
	const id = firstId(server);
	const read = await call<LwwObject>(server, 'GET', `/object?id=${id}`, undefined, {'if-none-match': '*'});
	expect([read.status, read.headers.get('etag')]).toEqual([200, null]);
	expect(read.body).not.toHaveProperty('version');
	const patched = await call(server, 'PATCH', '/object', {id, version: 7, properties: counter(1)}, {'if-match': '"9"'});
	expect([patched.status, patched.headers.get('etag')]).toEqual([200, null]);
	expect(patched.body).not.toHaveProperty('version');
	expect(server.version(id)).toBe(2);
	expect(server.report().conflicts).toBe(0);
});

test('report().conflicts is cleared by reset()', async () => {
	const server = await start({mode: 'etag'});
	const id = firstId(server);
	await call(server, 'PATCH', '/object', {id, title: 'x'}, {'if-match': '"5"'});
	expect(server.report().conflicts).toBe(1);
	server.reset();
	expect(server.report().conflicts).toBe(0);
});

test.each(['lww', 'etag', 'version'] as const)("server.mode is '%s' when started with it", async mode => {
	const server = await start({mode});
	expect(server.mode).toBe(mode);
});

test('startLwwServer() rejects an unknown mode with a precise TypeError', async () => {
	await expect(startLwwServer({mode: 'bogus' as never})).rejects.toThrow(
		new TypeError("Expected `mode` to be `'lww'`, `'etag'` or `'version'`, got `\"bogus\"` (string)"),
	);
});
