import fc from 'fast-check';
import {expect, test} from 'vitest';
import {compileKeys, type LaneRequest, normalizeUrl, type Preset, toLaneRequest} from '../src/keys/index.js';
import {etag, kubernetes, notion, type NotionOptions, rekord, square} from '../src/presets/index.js';
import {teach} from '../src/http/learn.js';
import {readThrough} from './helpers.js';

const laneRequest = (method: string, url: string, body?: unknown): LaneRequest => ({
	method,
	url: normalizeUrl(url),
	headers: new Headers(),
	body,
});

function resolver(preset: Preset, base: string) {
	const compiled = compileKeys(preset);
	return (method: string, path: string, body?: unknown) => compiled.resolve(laneRequest(method, `${base}${path}`, body));
}

const read = (...keys: string[]) => ({keys, kind: 'read'});
const write = (...keys: string[]) => ({keys, kind: 'write'});

function deepFreeze<T>(value: T): T {
	if (typeof value === 'object' && value !== null) {
		for (const inner of Object.values(value)) {
			deepFreeze(inner);
		}

		Object.freeze(value);
	}

	return value;
}

function field(preset: Preset) {
	const {versioning} = preset;
	if (versioning?.type !== 'field') {
		throw new Error(`${preset.name} has no field versioning`);
	}

	return versioning;
}

const optionsError = new TypeError('Expected `options` to be an object, got `null` (null)');

// --- etag ---

test('etag() - keys the default rule (host and path) and versions by ETag', () => {
	const preset = etag();
	expect(preset).toMatchObject({name: 'etag', readsBody: false, versioning: {type: 'etag'}});
	const resolve = resolver(preset, 'https://API.example.com:443');
	expect(resolve('GET', '/items//42/?x=1')).toEqual(read('api.example.com/items/42'));
	expect(resolve('PUT', '/items/42')).toEqual(write('api.example.com/items/42'));
	expect(resolve('DELETE', '/items/42/tags/a')).toEqual(write('api.example.com/items/42/tags/a'));
});

test('etag() - a pattern list keys what it matches and leaves the rest to the default rule', () => {
	const preset = etag({keys: ['/v1/records/:id/**', {pattern: '/v1/search', kind: 'read', key: false}]});
	expect(preset.readsBody).toBe(false);
	const resolve = resolver(preset, 'https://api.example.com');
	expect(resolve('PATCH', '/v1/records/42/fields/title')).toEqual(write('v1/records/42'));
	expect(resolve('POST', '/v1/search')).toEqual(read());
	expect(resolve('PATCH', '/v1/other/1')).toEqual(write('api.example.com/v1/other/1'));
});

test('etag() - a rule function decides alone and sees the JSON body', async () => {
	const preset = etag({keys: request => (request.body as {id?: string} | undefined)?.id});
	expect(preset.readsBody).toBe(true);
	const compiled = compileKeys(preset);
	const request = new Request('https://api.example.com/rpc', {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"id": "doc-7"}'});
	expect(compiled.resolve(await toLaneRequest(request, compiled.readsBody))).toEqual(write('doc-7'));
	expect(compiled.resolve(laneRequest('POST', 'https://api.example.com/rpc', {}))).toEqual(write());
});

test('etag() - 412 is a conflict, 428 (no precondition sent) is not', () => {
	const {isConflict} = etag();
	expect(isConflict?.(412, undefined)).toBe(true);
	expect(isConflict?.(412, {error: {errors: [{reason: 'conditionNotMet'}], code: 412}})).toBe(true);
	expect(isConflict?.(428, undefined)).toBe(false);
	expect(isConflict?.(400, undefined)).toBe(false);
	expect(isConflict?.(200, undefined)).toBe(false);
});

test('etag() - invalid options throw a TypeError naming them', () => {
	expect(() => etag(null as never)).toThrow(optionsError);
	expect(() => etag({keys: 5 as never})).toThrow(
		new TypeError('Expected `keys` to be a key rule function or an array of patterns, got `5` (number)'),
	);
	expect(() => etag({keys: ['/a/**/b']})).toThrow(/^Expected `keys\[0\]` to be a path pattern with `\*\*` only as its last segment/);
	expect(() => etag({})).not.toThrow();
});

// --- rekord ---

const rekordBase = 'https://api.rekord.test';

test('rekord() - a record and everything below it share the record lane', () => {
	const resolve = resolver(rekord(), rekordBase);
	expect(resolve('GET', '/records/42')).toEqual(read('records/42'));
	expect(resolve('HEAD', '/records/42')).toEqual(read('records/42'));
	for (const method of ['PUT', 'PATCH', 'DELETE']) {
		expect(resolve(method, '/records/42'), method).toEqual(write('records/42'));
	}

	expect(resolve('PATCH', '/records/42/fields/title')).toEqual(write('records/42'));
	expect(resolve('POST', '/records/42/attachments')).toEqual(write('records/42'));
	expect(resolve('GET', '/records/42/history')).toEqual(read('records/42'));
});

test('rekord() - the collection: lists read without a lane, creations write without one, other writes hold all records', () => {
	const resolve = resolver(rekord(), rekordBase);
	expect(resolve('GET', '/records?limit=10')).toEqual(read());
	expect(resolve('OPTIONS', '/records')).toEqual(read());
	expect(resolve('POST', '/records')).toEqual(write());
	expect(resolve('DELETE', '/records')).toEqual(write('records'));
});

test('rekord() - ids are compared as the server decodes them; other paths take the default rule', () => {
	const resolve = resolver(rekord(), rekordBase);
	expect(resolve('PUT', '/records/a%3Ab').keys).toEqual(resolve('PUT', '/records/a:b').keys);
	expect(resolve('PUT', '/records/a%2Fb').keys).toEqual(['records/a%2Fb']);
	expect(resolve('PUT', '/records/Abc').keys).toEqual(['records/Abc']);
	expect(resolve('PUT', '/users/1')).toEqual(write('api.rekord.test/users/1'));
	expect(resolve('GET', '/')).toEqual(read('api.rekord.test'));
});

test('rekord() - basePath and collections choose which paths are records', () => {
	const resolve = resolver(rekord({basePath: '/v1/', collections: ['records', 'files']}), rekordBase);
	expect(resolve('PUT', '/v1/records/42')).toEqual(write('records/42'));
	expect(resolve('PUT', '/v1/files/f1/content')).toEqual(write('files/f1'));
	expect(resolve('PUT', '/records/42')).toEqual(write('api.rekord.test/records/42'));
	expect(resolve('PUT', '/v2/records/42')).toEqual(write('api.rekord.test/v2/records/42'));
	expect(resolve('PUT', '/v1/users/42')).toEqual(write('api.rekord.test/v1/users/42'));
});

test('rekord() - versions by ETag; a 412 `precondition_failed` is its conflict', () => {
	const preset = rekord();
	expect(preset.versioning).toEqual({type: 'etag'});
	expect(preset.readsBody).toBe(false);
	const conflict = {error: {status: 412, code: 'precondition_failed', message: 'ETag mismatch'}};
	expect(preset.isConflict?.(412, conflict)).toBe(true);
	expect(preset.isConflict?.(412, {error: {status: 412, code: 'other'}})).toBe(false);
	expect(preset.isConflict?.(412, undefined)).toBe(false);
	expect(preset.isConflict?.(429, {error: {status: 429, code: 'too_many_requests'}})).toBe(false);
	expect(preset.isConflict?.(400, conflict)).toBe(false);
});

test('rekord() - invalid options throw a TypeError naming them', () => {
	expect(() => rekord(null as never)).toThrow(optionsError);
	const basePath = (shown: string) =>
		new TypeError(`Expected \`basePath\` to be an absolute path like \`/v1\` (no query, fragment or backslash), got ${shown}`);
	expect(() => rekord({basePath: 'v1'})).toThrow(basePath('`"v1"` (string)'));
	expect(() => rekord({basePath: '/v1?x'})).toThrow(basePath('`"/v1?x"` (string)'));
	expect(() => rekord({basePath: 1 as never})).toThrow(basePath('`1` (number)'));
	expect(() => rekord({collections: []})).toThrow(new TypeError('Expected `collections` to be a non-empty array of path segments, got `[array of 0]` (array)'));
	expect(() => rekord({collections: 'records' as never})).toThrow(/^Expected `collections` to be a non-empty array/);
	expect(() => rekord({collections: ['records', 'a/b']})).toThrow(
		new TypeError('Expected `collections[1]` to be a path segment (a non-empty string without `/`, `?`, `#`), got `"a/b"` (string)'),
	);
	expect(() => rekord({collections: ['..']})).toThrow(/^Expected `collections\[0\]`/);
	expect(() => rekord({basePath: '/', collections: ['records']})).not.toThrow();
});

// --- square ---

const squareBase = 'https://connect.squareup.com';
const customerId = 'JDKYHBWT1D4F8MFH63DBMEN8Y4';
const orderId = 'CAISENgvlJ6jLWAzERDzjyHVybY';
const itemId = 'W62UWFY35CWMYGVWK6TWJDNI';
const variationId = 'AII5DCHN5ITOBQBTF4N3RGDV';

test('square() - customers: the customer lane for the customer and its sub-resources', () => {
	const resolve = resolver(square(), squareBase);
	const lane = `customers/${customerId}`;
	expect(resolve('GET', `/v2/customers/${customerId}`)).toEqual(read(lane));
	expect(resolve('PUT', `/v2/customers/${customerId}`, {given_name: 'Amelia', version: 2})).toEqual(write(lane));
	expect(resolve('DELETE', `/v2/customers/${customerId}?version=2`)).toEqual(write(lane));
	expect(resolve('DELETE', `/v2/customers/${customerId}/cards/ccof:123`)).toEqual(write(lane));
	expect(resolve('PUT', `/v2/customers/${customerId}/groups/GROUP1`)).toEqual(write(lane));
	expect(resolve('POST', `/v2/customers/${customerId}/custom-attributes/favorite`, {custom_attribute: {value: 'x'}})).toEqual(write(lane));
});

test('square() - customers: lists, searches and creations take no lane; bulk writes take the lanes they name', () => {
	const resolve = resolver(square(), squareBase);
	expect(resolve('GET', '/v2/customers?limit=10')).toEqual(read());
	expect(resolve('POST', '/v2/customers/search', {query: {}})).toEqual(read());
	expect(resolve('POST', '/v2/customers/bulk-retrieve', {customer_ids: [customerId]})).toEqual(read());
	expect(resolve('POST', '/v2/customers', {idempotency_key: 'k', given_name: 'Amelia'})).toEqual(write());
	expect(resolve('POST', '/v2/customers/bulk-create', {customers: {}})).toEqual(write());
	expect(resolve('POST', '/v2/customers/bulk-delete', {customer_ids: ['B', 'A', 'B']})).toEqual(write('customers/A', 'customers/B'));
	expect(resolve('POST', '/v2/customers/bulk-update', {customers: {B: {version: 1}, A: {version: 3}}})).toEqual(write('customers/A', 'customers/B'));
	expect(resolve('POST', '/v2/customers/bulk-delete')).toEqual(write('customers'));
	expect(resolve('POST', '/v2/customers/bulk-update', {customers: []})).toEqual(write('customers'));
	expect(resolve('POST', '/v2/customers/custom-attributes/bulk-upsert', {values: {}})).toEqual(write('customers'));
	expect(resolve('POST', '/v2/customers/some-new-action', {})).toEqual(write('customers'));
	expect(resolve('PUT', '/v2/customers')).toEqual(write('customers'));
});

test('square() - customer groups and segments are collections of their own', () => {
	const resolve = resolver(square(), squareBase);
	expect(resolve('PUT', '/v2/customers/groups/G1', {group: {name: 'VIP'}})).toEqual(write('customers/groups/G1'));
	expect(resolve('GET', '/v2/customers/segments/S1')).toEqual(read('customers/segments/S1'));
	expect(resolve('POST', '/v2/customers/groups', {group: {name: 'VIP'}})).toEqual(write());
	expect(resolve('GET', '/v2/customers/groups')).toEqual(read());
	expect(resolve('PUT', '/v2/customers/custom-attribute-definitions/favorite')).toEqual(write('customers/custom-attribute-definitions/favorite'));
});

test('square() - orders, bookings and invoices: the object lane, actions on it included', () => {
	const resolve = resolver(square(), squareBase);
	expect(resolve('GET', `/v2/orders/${orderId}`)).toEqual(read(`orders/${orderId}`));
	expect(resolve('PUT', `/v2/orders/${orderId}`, {order: {version: 3}})).toEqual(write(`orders/${orderId}`));
	expect(resolve('POST', `/v2/orders/${orderId}/pay`, {idempotency_key: 'k'})).toEqual(write(`orders/${orderId}`));
	expect(resolve('PUT', '/v2/bookings/zkras0xv0xwswx', {booking: {version: 1}})).toEqual(write('bookings/zkras0xv0xwswx'));
	expect(resolve('POST', '/v2/bookings/zkras0xv0xwswx/cancel', {booking_version: 1})).toEqual(write('bookings/zkras0xv0xwswx'));
	expect(resolve('PUT', '/v2/invoices/inv:0-ChCHu2mZEabLeeHahQnXDjZQECY', {invoice: {version: 1}})).toEqual(
		write('invoices/inv%3A0-ChCHu2mZEabLeeHahQnXDjZQECY'),
	);
	expect(resolve('POST', '/v2/invoices/inv%3A0-Ch/publish', {version: 1})).toEqual(write('invoices/inv%3A0-Ch'));
	expect(resolve('DELETE', '/v2/invoices/inv:0-Ch?version=1')).toEqual(write('invoices/inv%3A0-Ch'));
});

test('square() - order, booking and invoice searches are reads, clones and creations take no lane', () => {
	const resolve = resolver(square(), squareBase);
	for (const path of ['/v2/orders/search', '/v2/orders/batch-retrieve', '/v2/orders/calculate', '/v2/bookings/availability/search', '/v2/bookings/bulk-retrieve', '/v2/invoices/search']) {
		expect(resolve('POST', path, {}), path).toEqual(read());
	}

	expect(resolve('GET', '/v2/bookings/team-member-booking-profiles/TM1')).toEqual(read());
	expect(resolve('POST', '/v2/orders/clone', {order_id: orderId, idempotency_key: 'k'})).toEqual(write());
	expect(resolve('POST', '/v2/orders', {order: {location_id: 'L1'}, idempotency_key: 'k'})).toEqual(write());
	expect(resolve('POST', '/v2/invoices', {invoice: {order_id: orderId}})).toEqual(write());
});

test('square() - catalog upserts take the lanes of the object, its embedded objects and its parent', () => {
	const resolve = resolver(square(), squareBase);
	const item = {
		idempotency_key: 'k1',
		object: {
			id: itemId,
			type: 'ITEM',
			version: 1_574_880_440_394,
			item_data: {name: 'Cocoa', variations: [{id: variationId, type: 'ITEM_VARIATION'}, {id: '#large', type: 'ITEM_VARIATION'}]},
		},
	};
	expect(resolve('POST', '/v2/catalog/object', item)).toEqual(write(`catalog/${variationId}`, `catalog/${itemId}`));
	const variation = {idempotency_key: 'k2', object: {id: variationId, type: 'ITEM_VARIATION', item_variation_data: {item_id: itemId}}};
	expect(resolve('POST', '/v2/catalog/object', variation)).toEqual(write(`catalog/${variationId}`, `catalog/${itemId}`));
	const newVariation = {idempotency_key: 'k3', object: {id: '#small', type: 'ITEM_VARIATION', item_variation_data: {item_id: itemId}}};
	expect(resolve('POST', '/v2/catalog/object', newVariation)).toEqual(write(`catalog/${itemId}`));
	const modifier = {idempotency_key: 'k4', object: {id: 'MOD1', type: 'MODIFIER', modifier_data: {modifier_list_id: 'LIST1'}}};
	expect(resolve('POST', '/v2/catalog/object', modifier)).toEqual(write('catalog/LIST1', 'catalog/MOD1'));
});

test('square() - catalog: creations take no lane, an unread upsert takes the whole catalog', () => {
	const resolve = resolver(square(), squareBase);
	expect(resolve('POST', '/v2/catalog/object', {idempotency_key: 'k', object: {id: '#Cocoa', type: 'ITEM', item_data: {variations: [{id: '#small'}]}}})).toEqual(write());
	expect(resolve('POST', '/v2/catalog/object')).toEqual(write('catalog'));
	expect(resolve('POST', '/v2/catalog/object', {idempotency_key: 'k', object: {id: '\uD800'}})).toEqual(write('catalog'));
});

test('square() - catalog: object paths, batches and reads', () => {
	const resolve = resolver(square(), squareBase);
	expect(resolve('GET', `/v2/catalog/object/${itemId}?include_related_objects=true`)).toEqual(read(`catalog/${itemId}`));
	expect(resolve('DELETE', `/v2/catalog/object/${itemId}`)).toEqual(write(`catalog/${itemId}`));
	expect(resolve('PUT', '/v2/catalog/images/IMG1')).toEqual(write('catalog/IMG1'));
	const batch = {idempotency_key: 'k', batches: [{objects: [{id: itemId, type: 'ITEM'}, {id: '#new', type: 'ITEM'}]}, {objects: [{id: 'TAX1', type: 'TAX'}]}]};
	expect(resolve('POST', '/v2/catalog/batch-upsert', batch)).toEqual(write(`catalog/TAX1`, `catalog/${itemId}`));
	expect(resolve('POST', '/v2/catalog/batch-upsert', {idempotency_key: 'k', batches: [{objects: [{id: '#new'}]}]})).toEqual(write());
	expect(resolve('POST', '/v2/catalog/batch-upsert')).toEqual(write('catalog'));
	expect(resolve('POST', '/v2/catalog/batch-delete', {object_ids: [itemId, 'TAX1']})).toEqual(write(`catalog/TAX1`, `catalog/${itemId}`));
	expect(resolve('POST', '/v2/catalog/batch-delete', {})).toEqual(write('catalog'));
	expect(resolve('POST', '/v2/catalog/update-item-taxes', {item_ids: [itemId], taxes_to_enable: ['TAX1']})).toEqual(write(`catalog/${itemId}`));
	expect(resolve('POST', '/v2/catalog/images')).toEqual(write('catalog'));
	expect(resolve('POST', '/v2/catalog/images', {object_id: itemId})).toEqual(write(`catalog/${itemId}`));
	for (const path of ['/v2/catalog/search', '/v2/catalog/search-catalog-items', '/v2/catalog/batch-retrieve']) {
		expect(resolve('POST', path, {}), path).toEqual(read());
	}

	expect(resolve('GET', '/v2/catalog/list?types=ITEM')).toEqual(read());
	expect(resolve('GET', '/v2/catalog/info')).toEqual(read());
	expect(resolve('POST', '/v2/catalog/something-new', {})).toEqual(write('catalog'));
});

test('square() - other Square APIs take the default rule', () => {
	const resolve = resolver(square(), squareBase);
	expect(resolve('POST', '/v2/payments', {idempotency_key: 'k'})).toEqual(write('connect.squareup.com/v2/payments'));
	expect(resolve('GET', '/v2/locations/L1')).toEqual(read('connect.squareup.com/v2/locations/L1'));
	expect(resolve('GET', '/v1/items')).toEqual(read('connect.squareup.com/v1/items'));
	expect(resolve('GET', '/v2/constructor/1')).toEqual(read('connect.squareup.com/v2/constructor/1'));
});

test('square() - through toLaneRequest, the catalog object id in a JSON body picks the lane', async () => {
	const compiled = compileKeys(square());
	expect(compiled.readsBody).toBe(true);
	const body = JSON.stringify({idempotency_key: 'k', object: {id: itemId, type: 'ITEM', version: 3}});
	const request = new Request(`${squareBase}/v2/catalog/object`, {method: 'POST', headers: {'content-type': 'application/json'}, body});
	expect(compiled.resolve(await toLaneRequest(request, compiled.readsBody))).toEqual(write(`catalog/${itemId}`));
	expect(await request.text()).toBe(body);
});

test('square() - versioning.read finds the version in every read answer shape', () => {
	const {read: version} = field(square());
	expect(version({customer: {id: customerId, given_name: 'Amelia', version: 3}})).toBe(3);
	expect(version({object: {id: itemId, type: 'ITEM', version: 1_574_880_440_394}, related_objects: []})).toBe(1_574_880_440_394);
	expect(version({catalog_object: {id: itemId, version: 7}, id_mappings: []})).toBe(7);
	expect(version({order: {id: orderId, location_id: 'L1', version: 4}})).toBe(4);
	expect(version({invoice: {id: 'inv:0', version: 1}})).toBe(1);
	expect(version({booking: {id: 'b1', version: 0}})).toBe(0);
	expect(version({id: customerId, version: 5})).toBe(5);
	expect(version({order: {id: orderId}})).toBeUndefined();
	expect(version({order: {id: orderId}, version: 9})).toBeUndefined();
	expect(version({customer: {version: null}})).toBeUndefined();
	expect(version({customer: {version: Number.NaN}})).toBeUndefined();
	expect(version(null)).toBeUndefined();
	expect(version('3')).toBeUndefined();
	expect(version([{version: 1}])).toBeUndefined();
});

test('square() - versioning.write puts the version where each write body expects it, without changing the body', () => {
	const {write: withVersion} = field(square());
	const order = deepFreeze({idempotency_key: 'k', order: {location_id: 'L1', note: 'gift'}, fields_to_clear: ['discounts']});
	expect(withVersion(order, 4)).toEqual({idempotency_key: 'k', order: {location_id: 'L1', note: 'gift', version: 4}, fields_to_clear: ['discounts']});
	expect(order.order).toEqual({location_id: 'L1', note: 'gift'});

	const object = deepFreeze({idempotency_key: 'k', object: {id: itemId, type: 'ITEM', version: 1}});
	expect(withVersion(object, 2)).toEqual({idempotency_key: 'k', object: {id: itemId, type: 'ITEM', version: 2}});
	expect(withVersion(deepFreeze({invoice: {title: 'March'}}), 3)).toEqual({invoice: {title: 'March', version: 3}});
	expect(withVersion(deepFreeze({booking: {customer_note: 'late'}, idempotency_key: 'k'}), 1)).toEqual({
		booking: {customer_note: 'late', version: 1},
		idempotency_key: 'k',
	});
	expect(withVersion(deepFreeze({given_name: 'Amelia'}), 0)).toEqual({given_name: 'Amelia', version: 0});
	expect(() => withVersion(undefined, 1)).toThrow(new TypeError('Expected `body` to be a Square write body (a JSON object), got `undefined` (undefined)'));
	expect(() => withVersion([], 1)).toThrow(TypeError);
});

test('square() - a 400 or 409 naming VERSION_MISMATCH or CONFLICT is a conflict', () => {
	const {isConflict} = square();
	const mismatch = {
		errors: [
			{
				code: 'VERSION_MISMATCH',
				detail: 'Supplied version 0 does not match the current version 4 of order CAISENgvlJ6jLWAzERDzjyHVybY.',
				field: 'order.version',
				category: 'INVALID_REQUEST_ERROR',
			},
		],
	};
	expect(isConflict?.(400, mismatch)).toBe(true);
	expect(isConflict?.(409, mismatch)).toBe(true);
	expect(isConflict?.(409, {errors: [{category: 'INVALID_REQUEST_ERROR', code: 'CONFLICT', detail: 'x'}]})).toBe(true);
	expect(isConflict?.(400, {errors: [{category: 'INVALID_REQUEST_ERROR', code: 'MISSING_REQUIRED_PARAMETER'}, {code: 'VERSION_MISMATCH'}]})).toBe(true);
	expect(isConflict?.(400, {errors: [{category: 'INVALID_REQUEST_ERROR', code: 'INVALID_VALUE', field: 'version'}]})).toBe(false);
	expect(isConflict?.(429, {errors: [{category: 'RATE_LIMIT_ERROR', code: 'RATE_LIMITED'}]})).toBe(false);
	expect(isConflict?.(500, mismatch)).toBe(false);
	expect(isConflict?.(400, undefined)).toBe(false);
	expect(isConflict?.(400, {errors: 'VERSION_MISMATCH'})).toBe(false);
	expect(square({conflictCodes: ['STALE']}).isConflict?.(400, mismatch)).toBe(false);
	expect(square({conflictCodes: ['STALE']}).isConflict?.(400, {errors: [{code: 'STALE'}]})).toBe(true);
});

test('square() - idempotency keys travel in the `idempotency_key` body field', () => {
	expect(square()).toMatchObject({name: 'square', readsBody: true, idempotency: {bodyField: 'idempotency_key'}});
	expect(square().rateLimit).toBeUndefined();
	expect(square().bucket).toBeUndefined();
});

test('square() - invalid options throw a TypeError naming them', () => {
	expect(() => square(null as never)).toThrow(optionsError);
	const message = (shown: string) => new TypeError(`Expected \`conflictCodes\` to be an array of error codes (non-empty strings), got ${shown}`);
	expect(() => square({conflictCodes: 'VERSION_MISMATCH' as never})).toThrow(message('`"VERSION_MISMATCH"` (string)'));
	expect(() => square({conflictCodes: ['']})).toThrow(message('`[array of 1]` (array)'));
	expect(() => square({conflictCodes: [1 as never]})).toThrow(message('`[array of 1]` (array)'));
	expect(() => square({conflictCodes: []})).not.toThrow();
});

// --- kubernetes ---

const kubeBase = 'https://10.0.0.1:6443';

test('kubernetes() - namespaced objects key <resource>/<namespace>/<name>, subresources included', () => {
	const resolve = resolver(kubernetes(), kubeBase);
	const pod = 'pods/default/web-0';
	expect(resolve('GET', '/api/v1/namespaces/default/pods/web-0')).toEqual(read(pod));
	expect(resolve('PUT', '/api/v1/namespaces/default/pods/web-0', {metadata: {name: 'web-0'}})).toEqual(write(pod));
	expect(resolve('PATCH', '/api/v1/namespaces/default/pods/web-0/status')).toEqual(write(pod));
	expect(resolve('POST', '/api/v1/namespaces/default/pods/web-0/eviction')).toEqual(write(pod));
	expect(resolve('DELETE', '/api/v1/namespaces/default/pods/web-0')).toEqual(write(pod));
	const deployment = 'deployments/default/web';
	expect(resolve('PUT', '/apis/apps/v1/namespaces/default/deployments/web')).toEqual(write(deployment));
	expect(resolve('PATCH', '/apis/apps/v1/namespaces/default/deployments/web/scale')).toEqual(write(deployment));
	expect(resolve('PUT', '/apis/apps/v1beta2/namespaces/default/deployments/web')).toEqual(write(deployment));
	expect(resolve('PUT', '/apis/example.com/v1/namespaces/team-a/widgets/w1')).toEqual(write('widgets/team-a/w1'));
});

test('kubernetes() - cluster-scoped objects and namespaces', () => {
	const resolve = resolver(kubernetes(), kubeBase);
	expect(resolve('PATCH', '/api/v1/nodes/node-1')).toEqual(write('nodes/node-1'));
	expect(resolve('PUT', '/api/v1/nodes/node-1/status')).toEqual(write('nodes/node-1'));
	expect(resolve('PUT', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-admin')).toEqual(
		write('clusterroles/system%3Aaggregate-to-admin'),
	);
	expect(resolve('PUT', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Aaggregate-to-admin')).toEqual(
		write('clusterroles/system%3Aaggregate-to-admin'),
	);
	expect(resolve('GET', '/api/v1/namespaces/team-a')).toEqual(read('namespaces/team-a'));
	expect(resolve('DELETE', '/api/v1/namespaces/team-a')).toEqual(write('namespaces/team-a'));
	expect(resolve('PUT', '/api/v1/namespaces/team-a/status')).toEqual(write('namespaces/team-a'));
	expect(resolve('PUT', '/api/v1/namespaces/team-a/finalize')).toEqual(write('namespaces/team-a'));
});

test('kubernetes() - collections: lists and delete-collection hold the collection, creations the named object', () => {
	const resolve = resolver(kubernetes(), kubeBase);
	expect(resolve('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).toEqual(read('pods/default'));
	expect(resolve('DELETE', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).toEqual(write('pods/default'));
	expect(resolve('GET', '/api/v1/pods')).toEqual(read('pods'));
	expect(resolve('GET', '/apis/apps/v1/deployments')).toEqual(read('deployments'));
	const pod = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'web-1', namespace: 'default'}, spec: {}};
	expect(resolve('POST', '/api/v1/namespaces/default/pods', pod)).toEqual(write('pods/default/web-1'));
	expect(resolve('POST', '/api/v1/namespaces/default/pods', {metadata: {generateName: 'web-'}})).toEqual(write());
	expect(resolve('POST', '/api/v1/namespaces/default/pods')).toEqual(write());
	expect(resolve('POST', '/api/v1/namespaces', {metadata: {name: 'team-b'}})).toEqual(write('namespaces/team-b'));
	expect(resolve('POST', '/api/v1/nodes', {metadata: {name: 'node-2'}})).toEqual(write('nodes/node-2'));
	expect(resolve('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {metadata: {name: 'system:x'}})).toEqual(write('clusterroles/system%3Ax'));
});

test('kubernetes() - streams, proxies and watches take no lane', () => {
	const resolve = resolver(kubernetes(), kubeBase);
	expect(resolve('POST', '/api/v1/namespaces/default/pods/web-0/exec?command=ls')).toEqual(write());
	expect(resolve('GET', '/api/v1/namespaces/default/pods/web-0/log?follow=true')).toEqual(read());
	expect(resolve('POST', '/api/v1/namespaces/default/pods/web-0/portforward')).toEqual(write());
	expect(resolve('POST', '/api/v1/namespaces/default/pods/web-0/attach')).toEqual(write());
	expect(resolve('GET', '/api/v1/namespaces/default/services/web/proxy/healthz')).toEqual(read());
	expect(resolve('GET', '/api/v1/nodes/node-1/proxy/metrics')).toEqual(read());
	expect(resolve('GET', '/api/v1/namespaces/default/pods?watch=true&resourceVersion=10')).toEqual(read());
	expect(resolve('GET', '/api/v1/namespaces/default/pods?watch=1')).toEqual(read());
	expect(resolve('GET', '/api/v1/namespaces/default/pods?watch=false')).toEqual(read('pods/default'));
	expect(resolve('GET', '/api/v1/watch/namespaces/default/pods/web-0')).toEqual(read());
});

test('kubernetes() - discovery reads take no lane; other paths take the default rule', () => {
	const resolve = resolver(kubernetes(), kubeBase);
	for (const path of ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1']) {
		expect(resolve('GET', path), path).toEqual(read());
	}

	expect(resolve('POST', '/api/v1')).toEqual(write('10.0.0.1:6443/api/v1'));
	expect(resolve('GET', '/healthz')).toEqual(read('10.0.0.1:6443/healthz'));
	expect(resolve('GET', '/version')).toEqual(read('10.0.0.1:6443/version'));
});

test('kubernetes() - `groups` puts the API group into the resource segment', () => {
	const resolve = resolver(kubernetes({groups: true}), kubeBase);
	expect(resolve('PUT', '/apis/apps/v1/namespaces/default/deployments/web')).toEqual(write('deployments.apps/default/web'));
	expect(resolve('PUT', '/apis/extensions/v1beta1/namespaces/default/deployments/web')).toEqual(write('deployments.extensions/default/web'));
	expect(resolve('PUT', '/api/v1/namespaces/default/pods/web-0')).toEqual(write('pods/default/web-0'));
	expect(resolve('GET', '/apis/apps/v1/deployments')).toEqual(read('deployments.apps'));
});

test('kubernetes() - versioning reads and writes metadata.resourceVersion without changing the body', () => {
	const preset = kubernetes();
	const {read: version, write: withVersion} = field(preset);
	const deployment = deepFreeze({
		apiVersion: 'apps/v1',
		kind: 'Deployment',
		metadata: {name: 'web', namespace: 'default', resourceVersion: '48213', labels: {app: 'web'}},
		spec: {replicas: 3},
	});
	expect(version(deployment)).toBe('48213');
	expect(version({metadata: {name: 'web'}})).toBeUndefined();
	expect(version({metadata: {resourceVersion: ''}})).toBeUndefined();
	expect(version({metadata: {resourceVersion: 48_213}})).toBeUndefined();
	expect(version(undefined)).toBeUndefined();

	const next = withVersion({...deployment, spec: {replicas: 5}}, '48213') as typeof deployment;
	expect(next).toEqual({...deployment, spec: {replicas: 5}});
	expect(withVersion(deployment, '50000')).toEqual({...deployment, metadata: {...deployment.metadata, resourceVersion: '50000'}});
	expect(deployment.metadata.resourceVersion).toBe('48213');
	expect(withVersion(deepFreeze({kind: 'ConfigMap', data: {a: '1'}}), 7)).toEqual({kind: 'ConfigMap', data: {a: '1'}, metadata: {resourceVersion: '7'}});
	expect(() => withVersion([{op: 'replace'}], '1')).toThrow(
		new TypeError('Expected `body` to be a Kubernetes object (a JSON object with `metadata`), got `[array of 1]` (array)'),
	);
});

test('kubernetes() - a 409 Conflict is a conflict, a 409 AlreadyExists is not', () => {
	const {isConflict} = kubernetes();
	const status = (reason: string, code: number) => ({kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code, details: {name: 'web', kind: 'deployments'}});
	expect(isConflict?.(409, {...status('Conflict', 409), message: 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified'})).toBe(true);
	expect(isConflict?.(409, status('AlreadyExists', 409))).toBe(false);
	expect(isConflict?.(422, status('Invalid', 422))).toBe(false);
	expect(isConflict?.(409, undefined)).toBe(false);
});

test('kubernetes() - reads bodies only to name created objects; no rate limit or idempotency', async () => {
	const preset = kubernetes();
	expect(preset).toMatchObject({name: 'kubernetes', readsBody: true});
	expect(preset.rateLimit).toBeUndefined();
	expect(preset.idempotency).toBeUndefined();
	const compiled = compileKeys(preset);
	const body = JSON.stringify({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'settings'}});
	const request = new Request(`${kubeBase}/api/v1/namespaces/default/configmaps`, {method: 'POST', headers: {'content-type': 'application/json'}, body});
	expect(compiled.resolve(await toLaneRequest(request, compiled.readsBody))).toEqual(write('configmaps/default/settings'));
});

test('kubernetes() - invalid options throw a TypeError naming them', () => {
	expect(() => kubernetes(null as never)).toThrow(optionsError);
	expect(() => kubernetes({groups: 'yes' as never})).toThrow(new TypeError('Expected `groups` to be a boolean, got `"yes"` (string)'));
	expect(() => kubernetes({groups: false})).not.toThrow();
});

test('kubernetes() - a name and its percent-encoded spelling share a lane (property)', () => {
	const resolve = resolver(kubernetes(), kubeBase);
	fc.assert(
		fc.property(fc.string({minLength: 1, maxLength: 20}).filter(name => name !== '.' && name !== '..'), name => {
			const encoded = encodeURIComponent(name);
			const lane = resolve('PUT', `/api/v1/namespaces/default/configmaps/${encoded}`).keys;
			expect(lane).toEqual([`configmaps/default/${encoded}`]);
			expect(resolve('POST', '/api/v1/namespaces/default/configmaps', {metadata: {name}}).keys).toEqual(lane);
		}),
	);
});

// --- notion ---

const notionBase = 'https://api.notion.com';
const pageId = '59833787-2cf9-4fdf-8782-e53db20768a5';
const page = pageId.replaceAll('-', '');
const otherPageId = 'b55c9c91-384d-452b-81db-d1ef79372b75';
const otherPage = otherPageId.replaceAll('-', '');
const blockA = 'c02fc1d3-db8b-45c5-a222-27595b15aea7';
const blockB = 'acc7eb06-05cd-4603-a384-5e1e4f1f4e72';
const blockC = '7d50a184-5bbe-4d90-8f29-6bec57ed817b';
const compact = (id: string) => id.replaceAll('-', '');

const block = (id: string, parent: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
	object: 'block',
	id,
	parent,
	created_time: '2022-03-01T19:05:00.000Z',
	has_children: false,
	in_trash: false,
	type: 'paragraph',
	paragraph: {rich_text: []},
	...extra,
});
const list = (...results: unknown[]) => ({object: 'list', results, next_cursor: null, has_more: false, type: 'block', block: {}});
const inPage = (id: string) => ({type: 'page_id', page_id: id});
const inBlock = (id: string) => ({type: 'block_id', block_id: id});

function notionSetup(options?: NotionOptions) {
	const preset = notion(options);
	const compiled = compileKeys(preset);
	const resolve = (method: string, path: string, body?: unknown) => compiled.resolve(laneRequest(method, `${notionBase}${path}`, body));
	return {
		preset,
		resolve,
		lane: (id: string) => resolve('PATCH', `/v1/blocks/${id}`).keys,
		async observe(method: string, path: string, body: unknown, init?: ResponseInit) {
			const text = typeof body === 'string' ? body : JSON.stringify(body);
			await readThrough(preset, laneRequest(method, `${notionBase}${path}`), new Response(text, init));
		},
	};
}

test('notion() - pages key by their id, dashed or not, in any case', () => {
	const {resolve} = notionSetup();
	expect(resolve('GET', `/v1/pages/${pageId}`)).toEqual(read(`pages/${page}`));
	expect(resolve('PATCH', `/v1/pages/${page}`, {properties: {}})).toEqual(write(`pages/${page}`));
	expect(resolve('PATCH', `/v1/pages/${pageId.toUpperCase()}`, {in_trash: true})).toEqual(write(`pages/${page}`));
	expect(resolve('GET', `/v1/pages/${pageId}/properties/title`)).toEqual(read(`pages/${page}`));
});

test('notion() - a block whose page is unknown takes the coarse `pages` lane, never none', () => {
	const {resolve} = notionSetup();
	expect(resolve('PATCH', `/v1/blocks/${blockA}`, {paragraph: {rich_text: []}})).toEqual(write('pages'));
	expect(resolve('DELETE', `/v1/blocks/${blockA}`)).toEqual(write('pages'));
	expect(resolve('PATCH', `/v1/blocks/${pageId}/children`, {children: []})).toEqual(write('pages'));
	expect(resolve('GET', `/v1/blocks/${blockA}/children`)).toEqual(read('pages'));
});

test('notion() - creations take the parent page lane, no lane for rows and workspace pages, the coarse lane when unknown', () => {
	const {resolve} = notionSetup();
	expect(resolve('POST', '/v1/pages', {parent: {page_id: pageId}, properties: {}})).toEqual(write(`pages/${page}`));
	expect(resolve('POST', '/v1/pages', {parent: {type: 'database_id', database_id: 'd9824bdc-8445-4327-be8b-5b47500af6ce'}})).toEqual(write());
	expect(resolve('POST', '/v1/pages', {parent: {type: 'data_source_id', data_source_id: 'x'}})).toEqual(write());
	expect(resolve('POST', '/v1/pages', {parent: {type: 'workspace', workspace: true}})).toEqual(write());
	expect(resolve('POST', '/v1/pages', {parent: {block_id: blockA}})).toEqual(write('pages'));
	expect(resolve('POST', '/v1/pages', {properties: {}})).toEqual(write('pages'));
	expect(resolve('POST', '/v1/pages')).toEqual(write('pages'));
	expect(resolve('POST', '/v1/databases', {parent: {type: 'page_id', page_id: pageId}, title: []})).toEqual(write(`pages/${page}`));
	expect(resolve('POST', '/v1/databases')).toEqual(write('pages'));
	expect(resolve('POST', '/v1/data_sources', {parent: {database_id: 'D1D1D1D1-D1D1-D1D1-D1D1-D1D1D1D1D1D1'}})).toEqual(write('databases/d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1'));
	expect(resolve('POST', '/v1/data_sources', {})).toEqual(write('databases'));
});

test('notion() - database and data source queries are reads sent as POST; search, users and comments take no lane', () => {
	const {resolve} = notionSetup();
	const database = 'd9824bdc-8445-4327-be8b-5b47500af6ce';
	expect(resolve('POST', `/v1/databases/${database}/query`, {filter: {}})).toEqual(read(`databases/${compact(database)}`));
	expect(resolve('POST', `/v1/data_sources/${database}/query`, {})).toEqual(read(`data_sources/${compact(database)}`));
	expect(resolve('GET', `/v1/databases/${database}`)).toEqual(read(`databases/${compact(database)}`));
	expect(resolve('PATCH', `/v1/databases/${database}`, {title: []})).toEqual(write(`databases/${compact(database)}`));
	expect(resolve('PATCH', `/v1/data_sources/${database}`, {properties: {}})).toEqual(write(`data_sources/${compact(database)}`));
	expect(resolve('POST', '/v1/search', {query: 'x'})).toEqual(read());
	expect(resolve('GET', '/v1/users/me')).toEqual(read());
	expect(resolve('GET', '/v1/users')).toEqual(read());
	expect(resolve('POST', '/v1/comments', {parent: {page_id: pageId}})).toEqual(write());
	expect(resolve('GET', `/v1/comments?block_id=${blockA}`)).toEqual(read());
	expect(resolve('GET', '/v1/databases')).toEqual(read());
	expect(resolve('DELETE', '/v1/databases')).toEqual(write('databases'));
});

test('notion() - other paths take the default rule', () => {
	const {resolve} = notionSetup();
	expect(resolve('POST', '/v1/file_uploads', {})).toEqual(write('api.notion.com/v1/file_uploads'));
	expect(resolve('DELETE', '/v1/search')).toEqual(write('api.notion.com/v1/search'));
	expect(resolve('PATCH', '/v1/blocks')).toEqual(write('api.notion.com/v1/blocks'));
	expect(resolve('GET', '/v2/pages/x')).toEqual(read('api.notion.com/v2/pages/x'));
	expect(resolve('PATCH', '/v1/pages', {})).toEqual(write('pages'));
});

test('notion() - learns block → page from children lists and follows block parents up to the page', async () => {
	const {lane, resolve, observe} = notionSetup();
	await observe('GET', `/v1/blocks/${pageId}/children`, list(block(blockA, inPage(pageId), {has_children: true}), block(blockB, inPage(pageId))));
	expect(lane(blockA)).toEqual([`pages/${page}`]);
	expect(lane(blockB.toUpperCase())).toEqual([`pages/${page}`]);
	expect(resolve('DELETE', `/v1/blocks/${compact(blockB)}`)).toEqual(write(`pages/${page}`));
	// The parent named by the blocks is a page: appending to it takes its lane, as do page writes.
	expect(resolve('PATCH', `/v1/blocks/${pageId}/children`, {children: []})).toEqual(write(`pages/${page}`));
	expect(resolve('PATCH', `/v1/pages/${pageId}`, {properties: {}})).toEqual(write(`pages/${page}`));

	await observe('GET', `/v1/blocks/${blockA}/children`, list(block(blockC, inBlock(blockA))));
	expect(lane(blockC)).toEqual([`pages/${page}`]);
	expect(resolve('POST', '/v1/pages', {parent: {block_id: blockC}})).toEqual(write(`pages/${page}`));
});

test('notion() - a block learned before its parent resolves once the parent is known', async () => {
	const {lane, observe} = notionSetup();
	await observe('GET', `/v1/blocks/${blockC}`, block(blockC, inBlock(blockA)));
	expect(lane(blockC)).toEqual(['pages']);
	await observe('PATCH', `/v1/blocks/${blockA}`, block(blockA, inPage(otherPageId)));
	expect(lane(blockC)).toEqual([`pages/${otherPage}`]);
});

test('notion() - pages and child_page blocks are their own pages', async () => {
	const {lane, resolve, observe} = notionSetup();
	await observe('PATCH', `/v1/pages/${otherPageId}`, {object: 'page', id: otherPageId, parent: {type: 'workspace', workspace: true}, properties: {}});
	expect(resolve('PATCH', `/v1/blocks/${otherPageId}/children`, {children: []})).toEqual(write(`pages/${otherPage}`));

	const childPage = '0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b';
	await observe('GET', `/v1/blocks/${pageId}/children`, list(block(childPage, inPage(pageId), {type: 'child_page', child_page: {title: 'Notes'}})));
	expect(lane(childPage)).toEqual([`pages/${compact(childPage)}`]);
	await observe('GET', `/v1/blocks/${childPage}/children`, list(block(blockA, inPage(childPage))));
	expect(lane(blockA)).toEqual([`pages/${compact(childPage)}`]);

	await observe('POST', '/v1/search', list({object: 'page', id: pageId, parent: {type: 'workspace', workspace: true}}, {object: 'database', id: blockB}));
	expect(lane(pageId)).toEqual([`pages/${page}`]);
	expect(lane(blockB)).toEqual(['pages']);
});

test('notion() - learns from the body the caller reads, without reading it first', async () => {
	const preset = notion();
	const compiled = compileKeys(preset);
	const body = list(block(blockA, inPage(pageId)));
	const response = new Response(JSON.stringify(body), {headers: {'content-type': 'application/json'}});
	teach(preset.learn!, laneRequest('GET', `${notionBase}/v1/blocks/${pageId}/children`), response);
	expect(response.bodyUsed).toBe(false);
	expect(compiled.resolve(laneRequest('PATCH', `${notionBase}/v1/blocks/${blockA}`)).keys).toEqual(['pages']);
	expect(await response.json()).toEqual(body);
	expect(compiled.resolve(laneRequest('PATCH', `${notionBase}/v1/blocks/${blockA}`)).keys).toEqual([`pages/${page}`]);
});

test('notion() - learning never throws and ignores failed, malformed or unrelated responses', async () => {
	const {lane, observe, preset} = notionSetup();
	const answer = list(block(blockA, inPage(pageId)));
	await observe('GET', `/v1/blocks/${pageId}/children`, answer, {status: 404});
	await expect(observe('GET', `/v1/blocks/${pageId}/children`, '{"object": ')).resolves.toBeUndefined();
	await expect(observe('GET', `/v1/blocks/${pageId}/children`, 'null')).resolves.toBeUndefined();
	await expect(observe('GET', `/v1/blocks/${pageId}/children`, {object: 'list', results: [null, 7, 'x', {object: 'block'}, {object: 'block', id: 5}]})).resolves.toBeUndefined();
	await observe('GET', '/v1/users', answer);
	await observe('GET', '/v1/comments', answer);
	const used = new Response(JSON.stringify(answer));
	await used.text();
	await expect(readThrough(preset, laneRequest('GET', `${notionBase}/v1/blocks/${pageId}/children`), used)).resolves.toBeUndefined();
	expect(lane(blockA)).toEqual(['pages']);

	await observe('POST', `/v1/databases/${blockC}/query`, list({object: 'page', id: blockB, parent: {type: 'database_id', database_id: blockC}}));
	expect(lane(blockB)).toEqual([`pages/${compact(blockB)}`]);
});

test('notion() - cyclic or overly deep block parents count as unknown', async () => {
	const {lane, observe} = notionSetup();
	await observe('GET', `/v1/blocks/${blockA}/children`, list(block(blockB, inBlock(blockA))));
	await observe('GET', `/v1/blocks/${blockB}/children`, list(block(blockA, inBlock(blockB))));
	expect(lane(blockA)).toEqual(['pages']);

	const ids = Array.from({length: 70}, (_, index) => `${String(index).padStart(2, '0')}000000-0000-4000-8000-000000000000`);
	const chain = ids.map((id, index) => block(id, index === 0 ? inPage(pageId) : inBlock(ids[index - 1]!)));
	await observe('GET', `/v1/blocks/${pageId}/children`, list(...chain));
	expect(lane(ids[60]!)).toEqual([`pages/${page}`]);
	expect(lane(ids[69]!)).toEqual(['pages']);
});

test('notion() - the learned map is bounded and drops the least recently used entry first', async () => {
	// Three entries: the page itself and two blocks.
	const {lane, observe} = notionSetup({blockOwners: 3});
	await observe('GET', `/v1/blocks/${pageId}/children`, list(block(blockA, inPage(pageId)), block(blockB, inPage(pageId))));
	expect(lane(blockA)).toEqual([`pages/${page}`]);
	expect(lane(blockB)).toEqual([`pages/${page}`]);

	// blockA was used before blockB, so it is the oldest entry and goes when blockC comes in.
	await observe('GET', `/v1/blocks/${blockC}`, block(blockC, inPage(pageId)));
	expect(lane(blockA)).toEqual(['pages']);
	expect(lane(blockB)).toEqual([`pages/${page}`]);
	expect(lane(blockC)).toEqual([`pages/${page}`]);
});

test('notion() - blockOwners false learns nothing', async () => {
	const {preset, lane} = notionSetup({blockOwners: false});
	expect(preset.observe).toBeUndefined();
	expect(lane(blockA)).toEqual(['pages']);
	expect(preset.rateLimit).toEqual({limit: 3, interval: 1000});
});

test('notion() - a 409 conflict_error is a conflict; 3 requests per second; no versions, no idempotency keys', () => {
	const preset = notion();
	expect(preset).toMatchObject({name: 'notion', readsBody: true, rateLimit: {limit: 3, interval: 1000}});
	expect(preset.versioning).toBeUndefined();
	expect(preset.idempotency).toBeUndefined();
	expect(preset.bucket).toBeUndefined();
	const error = (status: number, code: string) => ({object: 'error', status, code, message: 'x'});
	expect(preset.isConflict?.(409, error(409, 'conflict_error'))).toBe(true);
	expect(preset.isConflict?.(409, error(409, 'other'))).toBe(false);
	expect(preset.isConflict?.(429, error(429, 'rate_limited'))).toBe(false);
	expect(preset.isConflict?.(400, error(400, 'validation_error'))).toBe(false);
	expect(preset.isConflict?.(409, undefined)).toBe(false);
});

test('notion() - invalid options throw a TypeError naming them', () => {
	expect(() => notion(null as never)).toThrow(optionsError);
	const message = (shown: string) => new TypeError(`Expected \`blockOwners\` to be an integer >= 1 or false, got ${shown}`);
	expect(() => notion({blockOwners: 0})).toThrow(message('`0` (number)'));
	expect(() => notion({blockOwners: 2.5})).toThrow(message('`2.5` (number)'));
	expect(() => notion({blockOwners: true as never})).toThrow(message('`true` (boolean)'));
	expect(() => notion({blockOwners: 1})).not.toThrow();
});

test('notion() - every spelling of one id takes one lane (property)', () => {
	const {resolve} = notionSetup();
	const hex = fc.string({unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 32, maxLength: 32});
	fc.assert(
		fc.property(hex, fc.boolean(), fc.boolean(), (id, dashed, upper) => {
			let spelled = dashed ? `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}` : id;
			spelled = upper ? spelled.toUpperCase() : spelled.toLowerCase();
			expect(resolve('PATCH', `/v1/pages/${spelled}`).keys).toEqual([`pages/${id.toLowerCase()}`]);
		}),
	);
});

// --- all presets ---

test('presets - every preset compiles and has a unique name', () => {
	const presets = [etag(), rekord(), square(), notion(), kubernetes()];
	for (const preset of presets) {
		expect(() => compileKeys(preset), preset.name).not.toThrow();
	}

	expect(new Set(presets.map(preset => preset.name)).size).toBe(presets.length);
});
