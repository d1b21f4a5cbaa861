import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import {classify} from '../keys/classify.js';
import {builtInPreset, defaultRule} from '../keys/compile.js';
import {BoundedMap} from '../keys/lru.js';
import type {KeyDecision, KeyRule, LaneRequest, OperationKind, Preset, PresetLearn} from '../keys/types.js';
import {field, isRecord, nonEmpty, optionsObject, pathSegment, pathSegments} from './json.js';

/** Options of the `notion()` preset. */
export type NotionOptions = {
	/**
	How many block → parent entries the preset remembers, learned from the blocks, pages and lists
	Notion returns, so a request on `/v1/blocks/<id>` takes the lane of the page the block sits in. The
	least recently used entry is dropped first. `false` learns nothing: every block request then takes
	the coarse `pages` lane.

	@default 10_000
	*/
	readonly blockOwners?: number | false;
};

/** Ancestor of every page lane: a write on it waits for, and holds off, all of them. */
const allPages = 'pages';
/** Block parents followed up to the page at most; deeper (or cyclic) chains count as unknown. */
const maxDepth = 64;
const hex32 = /^[\da-f]{32}$/;

/** Where a learned id sits: it is a page itself, or a child of another block (or page) id. */
type Link = {readonly page: string} | {readonly parent: string};

/**
Notion ids are UUIDs, sent with or without dashes and in either case: one spelling per id, 32
lower-case hex digits. Anything else (not a Notion id) keeps its own spelling.
*/
function normalizeId(id: string): string {
	const compact = id.replaceAll('-', '').toLowerCase();
	return hex32.test(compact) ? compact : pathSegment(id).toLowerCase();
}

function bodyId(value: unknown): string | undefined {
	return nonEmpty(value) ? normalizeId(value) : undefined;
}

class BlockPages {
	readonly #links: BoundedMap<string, Link>;

	constructor(limit: number) {
		this.#links = new BoundedMap(limit);
	}

	/** The page an id sits in (a page sits in itself), or `undefined` when the chain is not known. */
	pageOf(id: string): string | undefined {
		let current = id;
		for (let depth = 0; depth < maxDepth; depth++) {
			const link = this.#links.get(current);
			if (link === undefined) {
				return undefined;
			}

			if ('page' in link) {
				return link.page;
			}

			current = link.parent;
		}

		return undefined;
	}

	/** Records what a page, block or list object (and each object of a list) tells about parents. */
	learn(object: unknown): void {
		if (!isRecord(object)) {
			return;
		}

		if (object.object === 'list' && Array.isArray(object.results)) {
			for (const result of object.results) {
				this.#learnOne(result);
			}

			return;
		}

		this.#learnOne(object);
	}

	#learnOne(object: unknown): void {
		const id = bodyId(field(object, 'id'));
		if (id === undefined) {
			return;
		}

		const type = field(object, 'object');
		// A child_page block is the page it shows: same id, and its content is that page's.
		if (type === 'page' || (type === 'block' && field(object, 'type') === 'child_page')) {
			this.#links.set(id, {page: id});
		} else if (type !== 'block') {
			return;
		}

		const parentPage = bodyId(field(object, 'parent', 'page_id'));
		const parentBlock = bodyId(field(object, 'parent', 'block_id'));
		if (parentPage !== undefined) {
			this.#links.set(parentPage, {page: parentPage});
		}

		if (type !== 'block' || field(object, 'type') === 'child_page') {
			return;
		}

		if (parentPage !== undefined) {
			this.#links.set(id, {page: parentPage});
		} else if (parentBlock !== undefined && parentBlock !== id) {
			this.#links.set(id, {parent: parentBlock});
		}
	}
}

function validateOptions(options: NotionOptions | undefined): number | false {
	const {blockOwners = defaults.presets.notion.blockOwners} = optionsObject(options) as NotionOptions;
	if (blockOwners !== false && (typeof blockOwners !== 'number' || !Number.isSafeInteger(blockOwners) || blockOwners < 1)) {
		throw invalid('blockOwners', 'an integer >= 1 or false', blockOwners);
	}

	return blockOwners;
}

const pageLane = (id: string) => `${allPages}/${id}`;

/** A request on a block: the lane of its page when known, else the coarse lane (never none). */
function blockLane(id: string, kind: OperationKind, pages: BlockPages | undefined): KeyDecision {
	const page = pages?.pageOf(normalizeId(id));
	return {keys: page === undefined ? allPages : pageLane(page), kind};
}

/**
A creation under `body.parent`: a new page or database under a page changes that page's content (it
appears as a child block), so it takes the page's lane; a new database row (a `database_id` or
`data_source_id` parent) or a workspace page touches no existing page. An unread or unknown parent
takes the coarse lane.
*/
function creationLane(body: unknown, pages: BlockPages | undefined): KeyDecision {
	const parent = field(body, 'parent');
	const page = bodyId(field(parent, 'page_id'));
	if (page !== undefined) {
		return {keys: pageLane(page), kind: 'write'};
	}

	const block = bodyId(field(parent, 'block_id'));
	if (block !== undefined) {
		return blockLane(block, 'write', pages);
	}

	const rowOrTopLevel = nonEmpty(field(parent, 'database_id')) || nonEmpty(field(parent, 'data_source_id')) || field(parent, 'workspace') === true;
	return {keys: rowOrTopLevel ? undefined : allPages, kind: 'write'};
}

/** Databases and data sources: their own lanes; `POST …/:id/query` is a read sent as POST. */
function containerLane(request: LaneRequest, collection: string, rest: readonly string[], pages: BlockPages | undefined): KeyDecision {
	const kind = classify(request.method);
	const [id, action] = rest;
	if (id === undefined) {
		if (kind === 'read') {
			return {keys: undefined, kind};
		}

		if (request.method !== 'POST') {
			return {keys: collection, kind};
		}

		if (collection === 'databases') {
			return creationLane(request.body, pages);
		}

		// A data source is created in a database (`parent.database_id`).
		const database = bodyId(field(request.body, 'parent', 'database_id'));
		return {keys: database === undefined ? 'databases' : `databases/${database}`, kind};
	}

	const lane = `${collection}/${normalizeId(id)}`;
	return {keys: lane, kind: action === 'query' && request.method === 'POST' ? 'read' : kind};
}

/**
Preset for the Notion API (`https://api.notion.com/v1`). Notion has no versions or ETags; two writes
to one page at once can fail with 409 `conflict_error` (a data collision: retry with up-to-date
parameters), and nothing stops them from overwriting each other. The preset gives every page one lane holding the
page's properties and its whole block tree.

Lanes (keys carry no host; ids are normalized to 32 lower-case hex digits, so dashed and undashed
spellings share a lane):

| Request | Lane | Kind |
| --- | --- | --- |
| `GET, PATCH /v1/pages/:id`, `/v1/pages/:id/**` (properties) | `pages/:id` | by method |
| `GET, PATCH, DELETE /v1/blocks/:id`, `GET, PATCH /v1/blocks/:id/children` | `pages/<page of :id>`, else `pages` | by method |
| `POST /v1/pages`, `POST /v1/databases` with `parent.page_id` (or a known `parent.block_id`) | `pages/<parent>` | write |
| `POST /v1/pages` with a `database_id`, `data_source_id` or `workspace` parent | none | write |
| `POST /v1/pages`, `POST /v1/databases` whose parent is not read or not known | `pages` | write |
| `POST /v1/databases/:id/query`, `POST /v1/data_sources/:id/query` | `databases/:id`, `data_sources/:id` | read |
| `GET, PATCH /v1/databases/:id`, `/v1/data_sources/:id` | `databases/:id`, `data_sources/:id` | by method |
| `POST /v1/search`, `GET /v1/users[/**]`, `GET /v1/comments` | none | read |
| `POST /v1/comments` | none | write |
| anything else | the default rule (`host/path`) | by method |

Block → page: a block's page is not in its path, so it learns it from the Notion answers its caller reads: a
block object names its parent (`{type: 'page_id', page_id}` or `{type: 'block_id', block_id}`), a
page object is a page, a `child_page` block is the page it shows, and a list (block children, append
results, search and query results) is learned item by item. Block parents are followed up to the page.
The map is bounded (`blockOwners`, least recently used first). A block whose page is not known takes
the coarse lane `pages`, the ancestor of every page lane: serializing too much is safe, too little is
not. The first request on a page through `/v1/blocks/<page id>/children` is such a case, until a
response names that id as a page.

Why one lane per page rather than one per block (`pages/:id/blocks/:id`): appends, deletes and
updates of the blocks of a page all change shared state (the parents' child lists), which per-block
lanes would let overlap, and at about three requests per second the lost parallelism is small. A
block write and a write of its page's properties thus always take the same lane.

Conflicts: 409 `conflict_error` (`update()` re-reads and re-applies; the preset has no `versioning`,
since Notion sends no versions). Rate limit: `{limit: 3, interval: 1000}` (429 `rate_limited` with an
integer `Retry-After` beyond it; 529 `service_overload` under load). No idempotency keys.

Known limits: a page created under a block (`parent.block_id`) whose page is unknown takes the coarse
lane; archiving a child page through `PATCH /v1/pages/:id` takes that page's lane but not its
parent's, whose child list it changes; `databases/:id` is not related to the lane of the page the
database sits in.

Sources (Notion API reference, https://developers.notion.com/reference):
- Request limits (/reference/request-limits): on average three requests per second per
  integration, bursts allowed; 429 `rate_limited` with `Retry-After` in integer seconds. Newer
  editions of that page describe a per-connection budget per 60-second window that depends on the
  plan, plus a per-workspace limit; three per second stays the conservative default, and a 429's
  `Retry-After` covers the rest. Set `rateLimit` on the lanes to override it.
- Status codes (/reference/status-codes): 409 `conflict_error`.
- Block (/reference/block) and Parent object (/reference/parent-object): the `parent` of pages and
  blocks, `{type: 'page_id' | 'block_id' | 'database_id' | 'workspace', …}`.
- Append block children (/reference/patch-block-children): `PATCH /v1/blocks/{block_id}/children`
  returns the new first-level children as a list.
- The endpoint references for pages, blocks, databases, data sources, search, users and comments.

@example
```
const lanes = createLanes({keys: notion()});
await lanes.fetch(`https://api.notion.com/v1/blocks/${pageId}/children`, {method: 'PATCH', headers, body});
```
*/
export function notion(options?: NotionOptions): Preset {
	const limit = validateOptions(options);
	const pages = limit === false ? undefined : new BlockPages(limit);

	const rule: KeyRule = request => {
		const segments = pathSegments(request.url.pathname);
		if (segments[0] !== 'v1') {
			return defaultRule(request);
		}

		const {method, body} = request;
		const kind = classify(method);
		const [, resource, id] = segments;
		const rest = segments.slice(2);
		switch (resource) {
			case 'pages': {
				if (id !== undefined) {
					return {keys: pageLane(normalizeId(id)), kind};
				}

				return method === 'POST' ? creationLane(body, pages) : {keys: kind === 'read' ? undefined : allPages, kind};
			}

			case 'blocks': {
				if (id !== undefined) {
					return blockLane(id, kind, pages);
				}

				break;
			}

			case 'databases':
			case 'data_sources': {
				return containerLane(request, resource, rest, pages);
			}

			case 'search': {
				if (method === 'POST' || kind === 'read') {
					return {keys: undefined, kind: 'read'};
				}

				break;
			}

			case 'users':
			case 'comments': {
				return {keys: undefined, kind};
			}

			default:
		}

		return defaultRule(request);
	};

	const preset = {
		name: 'notion',
		rule,
		readsBody: true,
		isConflict: (status: number, body: unknown) => status === 409 && field(body, 'code') === 'conflict_error',
		rateLimit: {limit: 3, interval: 1000},
	} satisfies Preset;

	if (pages === undefined) {
		return builtInPreset(preset);
	}

	// Pages, blocks, searches and queries answer with what each block's page is.
	const learn: PresetLearn = {
		when(request, response) {
			const resource = pathSegments(request.url.pathname)[1];
			return response.ok && (resource === 'pages' || resource === 'blocks' || resource === 'search' || request.url.pathname.endsWith('/query'));
		},
		body(_request, body) {
			pages.learn(body);
		},
	};

	return builtInPreset({...preset, learn});
}
