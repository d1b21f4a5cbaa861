import {expect, test} from 'vitest';
import {compileKeys, type LaneRequest, normalizeUrl, toLaneRequest} from '../src/keys/index.js';
import {type CapacitiesOptions, capacities} from '../src/presets/capacities.js';
import {teach} from '../src/http/learn.js';
import {readThrough} from './helpers.js';

const base = 'https://api.capacities.io';
const objectId = '7d2e7f8a-4c3b-4e1d-9f0a-123456789abc';
const otherId = '11111111-2222-4333-8444-555555555555';

const laneRequest = (method: string, path: string, body?: unknown): LaneRequest => ({
	method,
	url: normalizeUrl(path, base),
	headers: new Headers(),
	body,
});

function setup(options?: CapacitiesOptions) {
	const preset = capacities(options);
	const compiled = compileKeys(preset);
	return {
		preset,
		resolve: (method: string, path: string, body?: unknown) => compiled.resolve(laneRequest(method, path, body)),
		observe: async (id: string, object: unknown, init?: ResponseInit) => {
			const body = typeof object === 'string' ? object : JSON.stringify(object);
			await readThrough(preset, laneRequest('GET', `/object?id=${id}`), new Response(body, init));
		},
	};
}

/** An object as `GET /object` returns it: blocks per property, nested `blocks`, GridBlock `columns`. */
const object = {
	id: objectId,
	structureId: 'RootPage',
	collections: [],
	properties: {title: {type: 'title', title: {value: 'Example'}}},
	blocks: {
		content: [
			{id: 'b-text', type: 'TextBlock', tokens: [], blocks: [{id: 'b-nested', type: 'TextBlock', tokens: [], blocks: []}]},
			{id: 'b-group', type: 'GroupBlock', blocks: [{id: 'b-in-group', type: 'CodeBlock', lang: 'ts', text: ''}]},
			{
				id: 'b-grid',
				type: 'GridBlock',
				columns: [[{id: 'b-col-1', type: 'TextBlock', tokens: [], blocks: []}], [{id: 'B-COL-2', type: 'MathBlock', text: 'x'}]],
			},
		],
		notes: [{id: 'b-notes', type: 'HorizontalLineBlock'}],
	},
};

test('capacities() - a named preset that reads JSON bodies and learns from responses', () => {
	const preset = capacities();
	expect(preset.name).toBe('capacities');
	expect(preset.readsBody).toBe(true);
	expect(typeof preset.learn?.body).toBe('function');
	expect(preset.observe).toBeUndefined();
	expect(compileKeys(preset).readsBody).toBe(true);
});

test('capacities() - object endpoints key the object from the query or the body', () => {
	const {resolve} = setup();
	const lane = [`objects/${objectId}`];
	expect(resolve('GET', `/object?id=${objectId}`)).toEqual({keys: lane, kind: 'read'});
	expect(resolve('DELETE', `/object?id=${objectId}&hardDelete=true`)).toEqual({keys: lane, kind: 'write'});
	expect(resolve('PATCH', '/object', {id: objectId, properties: {}, collections: []})).toEqual({keys: lane, kind: 'write'});
	expect(resolve('GET', `/object/markdown?id=${objectId}`)).toEqual({keys: lane, kind: 'read'});
	expect(resolve('PATCH', '/object/markdown', {id: objectId, markdown: '# x'})).toEqual({keys: lane, kind: 'write'});
});

test('capacities() - appends key the object named by body.id', () => {
	const {resolve} = setup();
	const lane = {keys: [`objects/${objectId}`], kind: 'write'};
	expect(resolve('POST', '/blocks/append', {id: objectId, blocks: [], position: {type: 'end'}})).toEqual(lane);
	expect(resolve('POST', '/blocks/markdown/append', {id: objectId, markdown: 'x', parentBlockId: 'b-text'})).toEqual(lane);
});

test('capacities() - ids are lower-cased and kept to one key segment', () => {
	const {resolve} = setup();
	expect(resolve('GET', `/object?id=${objectId.toUpperCase()}`).keys).toEqual([`objects/${objectId}`]);
	expect(resolve('PATCH', '/object', {id: 'a/b'}).keys).toEqual(['objects/a%2Fb']);
});

test('capacities() - several ids in the query take all their lanes', () => {
	const {resolve} = setup();
	expect(resolve('DELETE', `/object?id=${otherId}&id=${objectId}&id=${otherId}`).keys).toEqual([`objects/${otherId}`, `objects/${objectId}`].sort());
});

test('capacities() - a write without an id takes the coarse `objects` lane, a read none', () => {
	const {resolve} = setup();
	expect(resolve('PATCH', '/object', {properties: {}})).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('PATCH', '/object', undefined)).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('PATCH', '/object', {id: 42})).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('DELETE', '/object')).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('DELETE', '/object?id=')).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('POST', '/blocks/append', {blocks: []})).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('GET', '/object')).toEqual({keys: [], kind: 'read'});
});

test('capacities() - search and space reads take no lane', () => {
	const {resolve} = setup();
	expect(resolve('POST', '/objects/search', {query: 'x'})).toEqual({keys: [], kind: 'read'});
	expect(resolve('GET', '/space')).toEqual({keys: [], kind: 'read'});
	expect(resolve('GET', '/space/structures')).toEqual({keys: [], kind: 'read'});
});

test('capacities() - creations are writes without a lane', () => {
	const {resolve} = setup();
	expect(resolve('POST', '/object', {structureId: 'RootPage'})).toEqual({keys: [], kind: 'write'});
	expect(resolve('POST', '/object/markdown', {markdown: '# x'})).toEqual({keys: [], kind: 'write'});
	expect(resolve('POST', '/object/url', {url: 'https://example.com'})).toEqual({keys: [], kind: 'write'});
});

test('capacities() - daily-note appends key the date, or the ancestor of all dates', () => {
	const {resolve} = setup();
	expect(resolve('POST', '/blocks/daily-note/append', {markdown: 'x', date: '2024-05-01'})).toEqual({
		keys: ['daily-note/2024-05-01'],
		kind: 'write',
	});
	expect(resolve('POST', '/blocks/daily-note/append', {markdown: 'x'})).toEqual({keys: ['daily-note'], kind: 'write'});
	expect(resolve('POST', '/blocks/daily-note/append', {markdown: 'x', date: '2024/05/01'})).toEqual({keys: ['daily-note'], kind: 'write'});
	expect(resolve('POST', '/blocks/daily-note/append', {markdown: 'x', date: 20_240_501})).toEqual({keys: ['daily-note'], kind: 'write'});
});

test('capacities() - the host is ignored, unknown paths and methods use the default rule', () => {
	const {resolve} = setup();
	const compiled = compileKeys(capacities());
	const proxied = compiled.resolve({...laneRequest('GET', '/'), url: normalizeUrl(`http://127.0.0.1:9000/object?id=${objectId}`)});
	expect(proxied.keys).toEqual([`objects/${objectId}`]);
	expect(resolve('POST', '/something/new')).toEqual({keys: ['api.capacities.io/something/new'], kind: 'write'});
	expect(resolve('PUT', '/object/url', {id: objectId})).toEqual({keys: ['api.capacities.io/object/url'], kind: 'write'});
	expect(resolve('GET', '/objects/search')).toEqual({keys: ['api.capacities.io/objects/search'], kind: 'read'});
});

test('capacities() - a block update that names its object takes that object lane', () => {
	const {resolve} = setup();
	const lane = {keys: [`objects/${objectId}`], kind: 'write'};
	expect(resolve('PATCH', '/blocks/block', {objectId, block: {id: 'b1', type: 'TextBlock'}})).toEqual(lane);
	expect(resolve('PATCH', '/blocks/block', {id: objectId, block: {id: 'b1', type: 'TextBlock'}})).toEqual(lane);
	expect(resolve('PATCH', '/blocks/block', {id: objectId, blockId: 'b1', block: {type: 'TextBlock'}})).toEqual(lane);
	expect(resolve('PATCH', `/blocks/block?objectId=${objectId}`, {id: 'b1', type: 'TextBlock'})).toEqual(lane);
});

test('capacities() - an unknown block takes the coarse `objects` lane, never none', () => {
	const {resolve} = setup();
	expect(resolve('PATCH', '/blocks/block', {id: 'b-unknown', type: 'TextBlock'})).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('PATCH', '/blocks/block', {block: {id: 'b-unknown'}})).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('PATCH', '/blocks/block', undefined)).toEqual({keys: ['objects'], kind: 'write'});
	expect(resolve('DELETE', '/blocks/block?blockId=b-unknown')).toEqual({keys: ['objects'], kind: 'write'});
});

test('capacities() - learns block owners from GET /object, nested blocks and grid columns included', async () => {
	const {resolve, observe} = setup();
	await observe(objectId, object);
	const lane = {keys: [`objects/${objectId}`], kind: 'write'};
	for (const blockId of ['b-text', 'b-nested', 'b-group', 'b-in-group', 'b-grid', 'b-col-1', 'b-col-2', 'B-NOTES']) {
		expect(resolve('PATCH', '/blocks/block', {id: blockId, type: 'TextBlock'}), blockId).toEqual(lane);
	}

	expect(resolve('PATCH', '/blocks/block', {block: {id: 'b-nested'}})).toEqual(lane);
	expect(resolve('PATCH', '/blocks/block', {blockId: 'b-nested'})).toEqual(lane);
	expect(resolve('DELETE', '/blocks/block?blockId=b-grid')).toEqual(lane);
	expect(resolve('DELETE', '/blocks/block?id=b-grid')).toEqual(lane);
	expect(resolve('GET', '/blocks/block?id=b-grid')).toEqual({...lane, kind: 'read'});
});

test('capacities() - a request naming several blocks takes every owner, or the coarse lane if one is unknown', async () => {
	const {resolve, observe} = setup();
	await observe(objectId, object);
	await observe(otherId, {id: otherId, blocks: {content: [{id: 'b-other'}]}});
	expect(resolve('PATCH', '/blocks/block?blockId=b-other', {id: 'b-text'}).keys).toEqual([`objects/${objectId}`, `objects/${otherId}`].sort());
	expect(resolve('PATCH', '/blocks/block?blockId=b-missing', {id: 'b-text'}).keys).toEqual(['objects']);
});

test('capacities() - the owner comes from the requested id when the object lacks one', async () => {
	const {resolve, observe} = setup();
	await observe(objectId.toUpperCase(), {blocks: {content: [{id: 'b1'}]}});
	expect(resolve('PATCH', '/blocks/block', {id: 'b1'}).keys).toEqual([`objects/${objectId}`]);
});

test('capacities() - learns from the body the caller reads, without reading it first', async () => {
	const preset = capacities();
	const compiled = compileKeys(preset);
	const owner = () => compiled.resolve(laneRequest('PATCH', '/blocks/block', {id: 'b-text'})).keys;
	const response = new Response(JSON.stringify(object), {headers: {'content-type': 'application/json'}});
	teach(preset.learn!, laneRequest('GET', `/object?id=${objectId}`), response);
	expect(response.bodyUsed).toBe(false);
	expect(owner()).toEqual(['objects']);
	expect(await response.json()).toEqual(object);
	expect(owner()).toEqual([`objects/${objectId}`]);

	// Read as text, the body teaches too.
	const other = new Response(JSON.stringify({id: otherId, blocks: {content: [{id: 'b-text'}]}}));
	teach(preset.learn!, laneRequest('GET', `/object?id=${otherId}`), other);
	await other.text();
	expect(owner()).toEqual([`objects/${otherId}`]);
});

test('capacities() - a taught json() that fails rejects for its caller alone, with the platform\'s error', async () => {
	const preset = capacities();
	const response = new Response('{"id": ', {headers: {'content-type': 'application/json'}});
	teach(preset.learn!, laneRequest('GET', `/object?id=${objectId}`), response);
	// An unhandled rejection of a promise of the lesson's own would fail the run.
	await expect(response.json()).rejects.toBeInstanceOf(SyntaxError);
});

test('capacities() - learning never throws and ignores bad or unrelated responses', async () => {
	const {resolve, observe, preset} = setup();
	await expect(observe(objectId, '{"id": ')).resolves.toBeUndefined();
	await expect(observe(objectId, 'null')).resolves.toBeUndefined();
	await expect(observe(objectId, '[1, 2]')).resolves.toBeUndefined();
	await expect(observe(objectId, {id: objectId, blocks: [{id: 'b-array'}]})).resolves.toBeUndefined();
	await expect(observe(objectId, {id: objectId, blocks: {content: [null, 5, 'x', [[{id: 7}]], {id: 'b-deep'}]}})).resolves.toBeUndefined();
	await observe(objectId, {id: objectId, blocks: {content: [{id: 'b-error'}]}}, {status: 404});

	const used = new Response(JSON.stringify(object));
	await used.text();
	await expect(readThrough(preset, laneRequest('GET', `/object?id=${objectId}`), used)).resolves.toBeUndefined();
	await readThrough(preset, laneRequest('PATCH', '/object', {id: objectId}), new Response(JSON.stringify(object)));
	await readThrough(preset, laneRequest('GET', `/object/markdown?id=${objectId}`), new Response(JSON.stringify(object)));

	expect(resolve('PATCH', '/blocks/block', {id: 'b-deep'}).keys).toEqual([`objects/${objectId}`]);
	for (const blockId of ['b-array', 'b-error', 'b-text']) {
		expect(resolve('PATCH', '/blocks/block', {id: blockId}).keys, blockId).toEqual(['objects']);
	}
});

test('capacities() - the learned map is bounded and drops the least recently used owner first', async () => {
	const {resolve, observe} = setup({blockOwners: 2});
	const owner = (blockId: string) => resolve('PATCH', '/blocks/block', {id: blockId}).keys;

	await observe(objectId, {id: objectId, blocks: {content: [{id: 'b1'}, {id: 'b2'}, {id: 'b3'}]}});
	expect(owner('b1')).toEqual(['objects']);
	expect(owner('b2')).toEqual([`objects/${objectId}`]);
	expect(owner('b3')).toEqual([`objects/${objectId}`]);

	// b2 was used before b3, so b3 is now the oldest and goes first.
	expect(owner('b2')).toEqual([`objects/${objectId}`]);
	await observe(otherId, {id: otherId, blocks: {content: [{id: 'b4'}]}});
	expect(owner('b3')).toEqual(['objects']);
	expect(owner('b2')).toEqual([`objects/${objectId}`]);
	expect(owner('b4')).toEqual([`objects/${otherId}`]);
});

test('capacities() - a block learned again moves to its new owner', async () => {
	const {resolve, observe} = setup();
	await observe(objectId, {id: objectId, blocks: {content: [{id: 'b1'}]}});
	await observe(otherId, {id: otherId, blocks: {content: [{id: 'b1'}]}});
	expect(resolve('PATCH', '/blocks/block', {id: 'b1'}).keys).toEqual([`objects/${otherId}`]);
});

test('capacities() - blockOwners false learns nothing', async () => {
	const preset = capacities({blockOwners: false});
	expect(preset.learn).toBeUndefined();
	const compiled = compileKeys(preset);
	expect(compiled.resolve(laneRequest('PATCH', '/blocks/block', {id: 'b-text'})).keys).toEqual(['objects']);
	expect(compiled.resolve(laneRequest('PATCH', '/blocks/block', {objectId, id: 'b-text'})).keys).toEqual([`objects/${objectId}`]);
});

test('capacities() - invalid options throw a TypeError naming them', () => {
	const message = (value: string) => new TypeError(`Expected \`blockOwners\` to be an integer >= 1 or false, got ${value}`);
	expect(() => capacities({blockOwners: 0})).toThrow(message('`0` (number)'));
	expect(() => capacities({blockOwners: -1})).toThrow(message('`-1` (number)'));
	expect(() => capacities({blockOwners: 1.5})).toThrow(message('`1.5` (number)'));
	expect(() => capacities({blockOwners: Number.POSITIVE_INFINITY})).toThrow(message('`Infinity` (number)'));
	expect(() => capacities({blockOwners: '10' as never})).toThrow(message('`"10"` (string)'));
	expect(() => capacities({blockOwners: true as never})).toThrow(message('`true` (boolean)'));
	expect(() => capacities(null as never)).toThrow(new TypeError('Expected `options` to be an object, got `null` (null)'));
	expect(() => capacities({})).not.toThrow();
	expect(() => capacities({blockOwners: 1})).not.toThrow();
});

test('capacities() - through toLaneRequest, the id in a JSON request body picks the lane', async () => {
	const compiled = compileKeys(capacities());
	const body = JSON.stringify({id: objectId, properties: {}});
	const request = new Request(`${base}/object`, {method: 'PATCH', headers: {'content-type': 'application/json'}, body});
	const lane = await toLaneRequest(request, compiled.readsBody);
	expect(compiled.resolve(lane)).toEqual({keys: [`objects/${objectId}`], kind: 'write'});
	expect(await request.text()).toBe(body);

	const untyped = new Request(`${base}/object`, {method: 'PATCH', body});
	expect(compiled.resolve(await toLaneRequest(untyped, compiled.readsBody))).toEqual({keys: ['objects'], kind: 'write'});
});

test('capacities() - rate-limit buckets are per endpoint: method and path', () => {
	const {preset} = setup();
	const bucket = (method: string, path: string, body?: unknown) => preset.bucket?.(laneRequest(method, path, body));
	expect(bucket('PATCH', '/object', {id: objectId})).toBe('PATCH /object');
	expect(bucket('GET', `/object?id=${objectId}`)).toBe('GET /object');
	expect(bucket('DELETE', `/object?id=${otherId}`)).toBe('DELETE /object');
	expect(bucket('POST', '/blocks/append', {id: objectId})).toBe('POST /blocks/append');
	expect(bucket('POST', '/blocks/daily-note/append', {markdown: 'x'})).toBe('POST /blocks/daily-note/append');
	expect(bucket('POST', '/objects/search', {query: 'x'})).toBe('POST /objects/search');
	expect(bucket('GET', '/space/structures')).toBe('GET /space/structures');
	expect(bucket('PATCH', '/object//')).toBe('PATCH /object');
});

test('capacities() - paths that are not endpoints share the origin bucket', () => {
	const {preset} = setup();
	expect(preset.bucket?.(laneRequest('GET', `/objects/${objectId}`))).toBe(base);
	expect(preset.bucket?.(laneRequest('POST', '/something/new'))).toBe(base);
	expect(capacities({blockOwners: false}).bucket?.(laneRequest('PATCH', '/object', {id: objectId}))).toBe('PATCH /object');
});

test('capacities() - sets no global rate limit: quotas differ per endpoint and are paced by bucket', () => {
	expect(capacities().rateLimit).toBeUndefined();
	expect(capacities({blockOwners: false}).rateLimit).toBeUndefined();
	expect(() => compileKeys(capacities())).not.toThrow();
});

test('capacities() - PUT /object, DELETE /object with the id in the body and PUT /object/blocks take the object lane', async () => {
	const {resolve, readsBody} = compileKeys(capacities());
	const json = {'content-type': 'application/json'};
	const lane = async (request: Request) => resolve(await toLaneRequest(request, readsBody));
	expect(await lane(new Request('https://api.capacities.io/object', {method: 'PUT', headers: json, body: '{"id":"A1"}'}))).toEqual({keys: ['objects/a1'], kind: 'write'});
	expect(await lane(new Request('https://api.capacities.io/object', {method: 'DELETE', headers: json, body: '{"id":"a1"}'}))).toEqual({keys: ['objects/a1'], kind: 'write'});
	expect(await lane(new Request('https://api.capacities.io/object/blocks', {method: 'PUT', headers: json, body: '{"id":"a1","blocks":[]}'}))).toEqual({keys: ['objects/a1'], kind: 'write'});
});
