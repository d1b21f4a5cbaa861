import {invalid, rejectUnknown} from '../errors/describe.js';
import {defaults} from '../options.js';
import {classify} from '../keys/classify.js';
import {builtInPreset, defaultRule} from '../keys/compile.js';
import {BoundedMap} from '../keys/lru.js';
import {urlPart} from '../keys/request.js';
import type {KeyDecision, KeyRule, LaneRequest, OperationKind, Preset, PresetLearn} from '../keys/types.js';

/** Options of the `capacities()` preset. */
export type CapacitiesOptions = {
	/**
	How many block → object entries the preset remembers, learned from `GET /object` responses, so a
	`PATCH /blocks/block` whose body does not name its object still takes that object's lane. The
	least recently used entry is dropped first. `false` learns nothing: such block updates then take
	the coarse `objects` lane.

	@default 10_000
	*/
	readonly blockOwners?: number | false;
};

type Body = Record<string, unknown>;

/** Ancestor of every object lane: a write on it waits for, and holds off, all of them. */
const allObjects = 'objects';
/** Ancestor of every dated daily-note lane. */
const allDailyNotes = 'daily-note';
const isoDate = /^\d{4}-\d{2}-\d{2}$/;

function isRecord(value: unknown): value is Body {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown): value is string {
	return typeof value === 'string' && value !== '';
}

/**
Ids are UUIDs, which compare case-insensitively; lower-casing can only merge lanes, never split
one. Encoding keeps an odd id (with a `/`) one key segment.
*/
function idSegment(id: string): string {
	// A lower-case UUID is its own segment: no copy, nothing to encode.
	return plainId.test(id) ? id : encodeURIComponent(id.toLowerCase());
}

const plainId = /^[\da-z-]+$/;

function queryIds(request: LaneRequest, name: string): string[] {
	const search = urlPart(request, 'search');
	if (search === '') {
		return [];
	}

	if (search.includes('%') || search.includes('+')) {
		return request.url.searchParams.getAll(name).filter(id => id !== '');
	}

	// Nothing to decode: read the values without building a URLSearchParams (the common `?id=<uuid>`).
	const ids: string[] = [];
	const prefix = `${name}=`;
	for (let start = 1; start < search.length; ) {
		let end = search.indexOf('&', start);
		if (end === -1) {
			end = search.length;
		}

		if (end - start > prefix.length && search.startsWith(prefix, start)) {
			ids.push(search.slice(start + prefix.length, end));
		}

		start = end + 1;
	}

	return ids;
}

function bodyId(body: unknown): string[] {
	return isRecord(body) && nonEmpty(body.id) ? [body.id] : [];
}

/** The lanes of the named objects; with no id a write takes the coarse lane and a read none. */
function objectLanes(ids: readonly string[], kind: OperationKind): KeyDecision {
	if (ids.length === 0) {
		return {keys: kind === 'write' ? allObjects : undefined, kind};
	}

	return {keys: ids.map(id => `${allObjects}/${idSegment(id)}`), kind};
}

const read = (keys?: string): KeyDecision => ({keys, kind: 'read'});
const creation: KeyDecision = {keys: undefined, kind: 'write'};

/**
Finds the object that owns the block(s) a `/blocks/block` request targets. The object wins when the
request names it (`body.objectId`, `?objectId=`, or `body.id` when the block travels in
`body.block` / `body.blockId`, as `id` names the object on the append endpoints); otherwise each
block id (`body.blockId`, `body.block.id`, `?blockId=`, `?id=`, or `body.id` when the body is the
block itself) is looked up in the learned map. Any unknown block sends the request to the coarse
lane: serializing too much is safe, too little is not.
*/
function blockLanes(request: LaneRequest, owners: BoundedMap<string, string> | undefined): KeyDecision {
	const {body} = request;
	const kind = classify(request.method);
	const objectIds = queryIds(request, 'objectId');
	const blockIds = [...queryIds(request, 'blockId'), ...queryIds(request, 'id')];
	if (isRecord(body)) {
		if (nonEmpty(body.objectId)) {
			objectIds.push(body.objectId);
		}

		const {block} = body;
		if (nonEmpty(body.blockId)) {
			blockIds.push(body.blockId);
		}

		if (isRecord(block) && nonEmpty(block.id)) {
			blockIds.push(block.id);
		}

		if (nonEmpty(body.id)) {
			(isRecord(block) || nonEmpty(body.blockId) ? objectIds : blockIds).push(body.id);
		}
	}

	if (objectIds.length > 0) {
		return objectLanes(objectIds, kind);
	}

	if (blockIds.length === 0 || owners === undefined) {
		return {keys: allObjects, kind};
	}

	const found: string[] = [];
	for (const blockId of blockIds) {
		const owner = owners.get(blockId.toLowerCase());
		if (owner === undefined) {
			return {keys: allObjects, kind};
		}

		found.push(owner);
	}

	return objectLanes(found, kind);
}

function dailyNoteLane(body: unknown): KeyDecision {
	const date = isRecord(body) ? body.date : undefined;
	return {keys: typeof date === 'string' && isoDate.test(date) ? `${allDailyNotes}/${date}` : allDailyNotes, kind: 'write'};
}

/** Records the owner of every block of an object as `GET /object` returns it. */
function learn(owners: BoundedMap<string, string>, object: unknown, requestedId: () => string | null): void {
	if (!isRecord(object) || !isRecord(object.blocks)) {
		return;
	}

	const id = nonEmpty(object.id) ? object.id : requestedId();
	if (!nonEmpty(id)) {
		return;
	}

	const owner = id.toLowerCase();
	// Iterative, so a deeply nested tree cannot overflow the stack; children are pushed in reverse so
	// blocks are recorded in document order.
	const pending: unknown[] = Object.values(object.blocks).reverse();
	while (pending.length > 0) {
		const item = pending.pop();
		if (Array.isArray(item)) {
			// A property's `Block[]`, nested `blocks`, a GridBlock's `columns: Block[][]` or one column.
			for (let index = item.length - 1; index >= 0; index--) {
				pending.push(item[index]);
			}
		} else if (isRecord(item)) {
			if (nonEmpty(item.id)) {
				owners.set(item.id.toLowerCase(), owner);
			}

			pending.push(item.columns, item.blocks);
		}
	}
}

/** The documented endpoint paths; each (with its method) has its own rate-limit quota. */
const endpoints = new Set([
	'/blocks/append',
	'/blocks/block',
	'/blocks/daily-note/append',
	'/blocks/markdown/append',
	'/object',
	'/object/markdown',
	'/object/url',
	'/objects/search',
	'/space',
	'/space/structures',
]);

/**
The rate-limit bucket of a request: its endpoint, `METHOD /path` (`PATCH /object`), since Capacities
counts requests per token per endpoint. Other paths share the origin's bucket, so an unknown path
with ids in it cannot grow the number of buckets.
*/
function bucket(request: LaneRequest): string {
	const {method} = request;
	const pathname = urlPart(request, 'pathname');
	if (!endpoints.has(pathname)) {
		return urlPart(request, 'origin');
	}

	// One string per endpoint and usual method, made once: a name built per request would be hashed
	// (and, from 13 characters on, first copied flat) on every lookup of the pacer's bucket map.
	return bucketNames.get(pathname)!.get(method) ?? `${method} ${pathname}`;
}

/** `METHOD /path` of each endpoint for the usual methods; any other method's name is built when needed. */
const bucketNames = new Map([...endpoints].map(path => [path, new Map(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map(method => [method, `${method} ${path}`]))]));

/** Write endpoints whose `body.id` (or, for `DELETE /object`, `?id=`) names the object they change. */
const objectWrites = new Set(['/object', '/object/markdown', '/object/blocks', '/blocks/append', '/blocks/markdown/append']);

/**
Where the object a write changes is read: `GET /object?id=<id>` on the write's origin, for every write
that names one object (`PATCH /object` with `body.id`, the append endpoints, a `PATCH /blocks/block`
whose object is named or learned). `undefined` (the write's own URL) otherwise.
*/
function readUrl(request: LaneRequest, owners: BoundedMap<string, string> | undefined): URL | undefined {
	const {body} = request;
	const pathname = urlPart(request, 'pathname');
	let ids: string[] = [];
	if (objectWrites.has(pathname)) {
		ids = [...queryIds(request, 'id'), ...bodyId(body)];
	} else if (pathname === '/blocks/block') {
		// The owning object, as the lane rule finds it (named, or learned from an earlier read).
		const {keys} = blockLanes(request, owners) as {keys: string | readonly string[]};
		ids = (typeof keys === 'string' ? [keys] : keys)
			.filter(key => key.startsWith(`${allObjects}/`))
			.map(key => decodeURIComponent(key.slice(allObjects.length + 1)));
	}

	if (new Set(ids.map(id => id.toLowerCase())).size !== 1) {
		return undefined;
	}

	const location = new URL('/object', urlPart(request, 'origin'));
	location.searchParams.set('id', ids[0]!);
	return location;
}

function validateOptions(options: unknown): number | false {
	if (options === undefined) {
		return 10_000;
	}

	if (!isRecord(options)) {
		throw invalid('options', 'an object', options);
	}

	rejectUnknown('capacities()', options, ['blockOwners']);
	const {blockOwners} = options;
	if (blockOwners === undefined) {
		return defaults.presets.capacities.blockOwners;
	}

	if (blockOwners !== false && (typeof blockOwners !== 'number' || !Number.isSafeInteger(blockOwners) || blockOwners < 1)) {
		throw invalid('blockOwners', 'an integer >= 1 or false', blockOwners);
	}

	return blockOwners;
}

/**
Key preset for the Capacities API (`https://api.capacities.io`), a last-write-wins API whose ids
travel in the query string or the JSON body, never in the path. Keys carry no origin:

| Request | Lane | Kind |
| --- | --- | --- |
| `GET /object?id=X`, `DELETE /object?id=X` | `objects/X` | read / write |
| `PATCH /object` (`body.id`); `PUT /object`, `DELETE /object` with `body.id` (not published; the reference server has them) | `objects/X` | write |
| `GET /object/blocks?id=X`, `PUT /object/blocks` (`body.id`) (reference server) | `objects/X` | read / write |
| `GET /object/markdown?id=X`, `PATCH /object/markdown` (`body.id`) | `objects/X` | read / write |
| `POST /blocks/append`, `POST /blocks/markdown/append` (`body.id`, the object) | `objects/X` | write |
| `PATCH /blocks/block` (and any other method on that path) | the owning object, else `objects` | by method |
| `POST /blocks/daily-note/append` | `daily-note/<body.date>`, else `daily-note` | write |
| `POST /objects/search` | none | read |
| `GET /space`, `GET /space/structures` | none | read |
| `POST /object`, `POST /object/markdown`, `POST /object/url` (creation) | none | write |
| anything else | the default rule (`host/path`) | by method |

Reading back (`readUrl`, for `uncertain: 'verify'`): a write that names one object is read back
with `GET /object?id=<id>`, not at its own URL (`GET /object` without an id is a 400).

A write that names no id takes the coarse lane `objects`, the ancestor of every object lane, so it
serializes with all of them instead of running unguarded. Ids are lower-cased (they are UUIDs).
The preset reads JSON bodies (`readsBody`): send them with a JSON content type, as `ky`'s `json`
option and `fetch` with `Content-Type: application/json` do; without one, the body's id is unseen
and the write takes the coarse lane.

Block updates: the object wins when the request names it (`body.objectId`, `?objectId=`, or
`body.id` next to `body.block` / `body.blockId`); otherwise the block id (`body.blockId`,
`body.block.id`, `?blockId=`, `?id=`, or `body.id` of a body that is the block) is looked up in a
bounded block → object map that it learns from the `GET /object` responses its caller reads; an unknown block
takes the coarse lane. Daily-note appends without an ISO date (`YYYY-MM-DD`) take `daily-note`, the
ancestor of every dated lane. Known limit: a daily note's own object lane (`objects/<id>`, e.g. for
a `PATCH /blocks/block` on it) and its `daily-note/<date>` lane are not related, as a request
names one or the other.

Facts relied on, from the public API docs at developers.capacities.io (beta):
- Concepts → Objects: `GET /object?id=` returns `{id, structureId, collections, properties,
  blocks}`, `blocks` being a map from property id to block content; `PATCH /object`, `DELETE
  /object?id=`, `POST /object`, `POST /object/url`, `GET|POST /object/markdown`.
- Concepts → Blocks: block trees sit under `blocks`, keyed by property definition id; a TextBlock
  has optional nested `blocks`, a GroupBlock contains nested blocks, a GridBlock has `columns`, an
  array of block arrays. `PATCH /blocks/block` replaces one block, keeping its id. `POST
  /blocks/append` and `POST /blocks/markdown/append` take `position`, `parentBlockId`, `propertyId`.
- Concepts → Structures: all content ids are UUIDs; block ids appear on the blocks of `GET /object`
  and are required for patch, delete and position operations.
- Not documented there: whether the `PATCH /blocks/block` body names the owning object, hence the
  shapes accepted above and the learned map.
- Overview → Rate limiting (https://developers.capacities.io/api/overview/rate-limiting): limits apply per API token, per endpoint, per time window; each endpoint
  states its own quota in the reference, and every response carries `RateLimit: limit=5,
  remaining=4, reset=58`. Hence `bucket`: one pacing bucket per endpoint (`METHOD /path`), paced by
  those headers. The preset sets no `rateLimit`: one global limit cannot express quotas that differ
  per endpoint (observed ones run from about 10 to 30 requests per minute); a limit low enough for
  the smallest quota would needlessly slow every other endpoint, and the headers already tell each
  bucket its exact quota. Set `rateLimit` yourself to cap the total.

@example
```
const lanes = createLanes({keys: capacities()});
await lanes.fetch('https://api.capacities.io/object', {method: 'PATCH', headers, body});
```
*/
export function capacities(options?: CapacitiesOptions): Preset {
	const limit = validateOptions(options);
	const owners = limit === false ? undefined : new BoundedMap<string, string>(limit);

	const rule: KeyRule = request => {
		const {method, body} = request;
		switch (urlPart(request, 'pathname')) {
			case '/object':
			case '/object/markdown': {
				if (method === 'GET') {
					return objectLanes(queryIds(request, 'id'), 'read');
				}

				// PUT is not in the published API; whoever sends one (a test server, a future version) replaces the object.
				if (method === 'PATCH' || method === 'PUT') {
					return objectLanes(bodyId(body), 'write');
				}

				if (method === 'DELETE') {
					return objectLanes([...queryIds(request, 'id'), ...bodyId(body)], 'write');
				}

				if (method === 'POST') {
					return creation;
				}

				break;
			}

			case '/object/blocks': {
				// Not in the published API either: the reference server's whole-block-tree replacement.
				return method === 'GET' ? objectLanes(queryIds(request, 'id'), 'read') : objectLanes(bodyId(body), 'write');
			}

			case '/object/url': {
				if (method === 'POST') {
					return creation;
				}

				break;
			}

			case '/objects/search': {
				if (method === 'POST') {
					return read();
				}

				break;
			}

			case '/space':
			case '/space/structures': {
				if (method === 'GET') {
					return read();
				}

				break;
			}

			case '/blocks/append':
			case '/blocks/markdown/append': {
				if (method === 'POST') {
					return objectLanes(bodyId(body), 'write');
				}

				break;
			}

			case '/blocks/block': {
				return blockLanes(request, owners);
			}

			case '/blocks/daily-note/append': {
				if (method === 'POST') {
					return dailyNoteLane(body);
				}

				break;
			}

			default:
		}

		return defaultRule(request);
	};

	const readLocation = (request: LaneRequest): URL | undefined => readUrl(request, owners);
	if (owners === undefined) {
		return builtInPreset({name: 'capacities', rule, readsBody: true, bucket, readUrl: readLocation});
	}

	// `GET /object` answers with the object's block tree: which object owns each block.
	const learnOwners: PresetLearn = {
		when: (request, response) => request.method === 'GET' && urlPart(request, 'pathname') === '/object' && response.ok,
		body(request, object) {
			// The requested id only when the object names none (it costs a URLSearchParams).
			learn(owners, object, () => request.url.searchParams.get('id'));
		},
	};

	return builtInPreset({name: 'capacities', rule, readsBody: true, learn: learnOwners, bucket, readUrl: readLocation});
}
