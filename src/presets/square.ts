import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import {classify} from '../keys/classify.js';
import {builtInPreset, defaultRule} from '../keys/compile.js';
import type {KeyDecision, KeyRule, LaneRequest, OperationKind, Preset, Versioning} from '../keys/types.js';
import {field, hasErrorCode, isRecord, nonEmpty, optionsObject, pathSegment, pathSegments, strings, textSegment} from './json.js';

/** Options of the `square()` preset. */
export type SquareOptions = {
	/**
	The error codes (in the `errors` array of a 400 or 409 answer) that mean "the version you sent is
	stale": such a write is re-read and re-applied by `update()`.

	@default ['VERSION_MISMATCH', 'CONFLICT']
	*/
	readonly conflictCodes?: readonly string[];
};

/**
What a path word right after a collection (`/v2/customers/<word>`) means, instead of an id:
- `'read'`: a search or batch read (often sent as POST), no lane;
- `'create'`: creates new objects only, no lane;
- `'coarse'`: changes objects the body names in a shape not read here: the collection's lane;
- `'sub'`: a collection of its own (`/v2/customers/groups/<id>` → `customers/groups/<id>`);
- a function: the ids of the objects the body changes (none: the collection's lane).
*/
type Word = 'read' | 'create' | 'coarse' | 'sub' | ((body: unknown) => string[]);

const customAttributes = {'custom-attribute-definitions': 'sub', 'custom-attributes': 'coarse'} as const;

/** The versioned collections and the non-id words of their paths, from the Square API reference. */
const collections: Readonly<Record<string, Readonly<Record<string, Word>>>> = {
	customers: {
		search: 'read',
		'bulk-retrieve': 'read',
		'bulk-create': 'create',
		'bulk-delete': body => strings(field(body, 'customer_ids')),
		'bulk-update': body => {
			const customers = field(body, 'customers');
			return isRecord(customers) ? Object.keys(customers).filter(nonEmpty) : [];
		},
		groups: 'sub',
		segments: 'sub',
		...customAttributes,
	},
	orders: {search: 'read', 'batch-retrieve': 'read', calculate: 'read', clone: 'create', ...customAttributes},
	bookings: {
		availability: 'read',
		'bulk-retrieve': 'read',
		'business-booking-profile': 'read',
		'location-booking-profiles': 'read',
		'team-member-booking-profiles': 'read',
		...customAttributes,
	},
	invoices: {search: 'read'},
};

const catalog = 'catalog';
const catalogReads = new Set(['batch-retrieve', 'info', 'list', 'search', 'search-catalog-items']);

/** `#`-prefixed ids are temporary: the object does not exist yet, so no write of it can be queued. */
const isExistingId = (id: unknown): id is string => nonEmpty(id) && !id.startsWith('#');

/**
The catalog objects a written object touches: itself, the objects it embeds (an item's variations, a
modifier list's modifiers, an item option's values) and the object it belongs to (a variation's item,
a modifier's list, an option value's option). Upserting an item rewrites its embedded variations, so
the two must not be written at once.
*/
function catalogObjectIds(object: unknown, ids: string[]): void {
	if (!isRecord(object)) {
		return;
	}

	if (isExistingId(object.id)) {
		ids.push(object.id);
	}

	for (const [data, children] of [
		['item_data', 'variations'],
		['modifier_list_data', 'modifiers'],
		['item_option_data', 'values'],
	] as const) {
		const embedded = field(object, data, children);
		if (Array.isArray(embedded)) {
			for (const child of embedded) {
				const id = field(child, 'id');
				if (isExistingId(id)) {
					ids.push(id);
				}
			}
		}
	}

	for (const [data, parent] of [
		['item_variation_data', 'item_id'],
		['modifier_data', 'modifier_list_id'],
		['item_option_value_data', 'item_option_id'],
	] as const) {
		const id = field(object, data, parent);
		if (isExistingId(id)) {
			ids.push(id);
		}
	}
}

function batchObjectIds(body: unknown): string[] {
	const ids: string[] = [];
	const batches = field(body, 'batches');
	if (Array.isArray(batches)) {
		for (const batch of batches) {
			const objects = field(batch, 'objects');
			if (Array.isArray(objects)) {
				for (const object of objects) {
					catalogObjectIds(object, ids);
				}
			}
		}
	}

	return ids;
}

/** The lanes of the named objects of `collection`; ids that cannot be spelled send the write to the whole collection. */
function objectLanes(collection: string, ids: readonly string[], kind: OperationKind): KeyDecision {
	const keys: string[] = [];
	for (const id of ids) {
		const segment = textSegment(id);
		if (segment === undefined) {
			return {keys: collection, kind};
		}

		keys.push(`${collection}/${segment}`);
	}

	return {keys: keys.length > 0 ? keys : collection, kind};
}

/**
A write whose objects are named only in its body: their lanes, a creation (the body names no existing
object) without a lane, or, when the body was not read, the whole collection.
*/
function bodyLanes(collection: string, body: unknown, ids: readonly string[]): KeyDecision {
	if (ids.length > 0) {
		return objectLanes(collection, ids, 'write');
	}

	return {keys: isRecord(body) ? undefined : collection, kind: 'write'};
}

function catalogLane(request: LaneRequest, rest: readonly string[]): KeyDecision {
	const {method, body} = request;
	const kind = classify(method);
	const [word, id] = rest;
	if (word === undefined) {
		return kind === 'read' ? {keys: undefined, kind} : {keys: catalog, kind};
	}

	if ((word === 'object' || word === 'images') && id !== undefined) {
		return {keys: `${catalog}/${pathSegment(id)}`, kind};
	}

	if (kind === 'read' || (method === 'POST' && catalogReads.has(word))) {
		return {keys: undefined, kind: 'read'};
	}

	switch (word) {
		case 'object': {
			// UpsertCatalogObject: `{idempotency_key, object: {id, …}}`, a `#` id creating the object.
			if (method !== 'POST') {
				break;
			}

			const ids: string[] = [];
			catalogObjectIds(field(body, 'object'), ids);
			return bodyLanes(catalog, body, ids);
		}

		case 'batch-upsert': {
			return bodyLanes(catalog, body, batchObjectIds(body));
		}

		case 'batch-delete': {
			return objectLanes(catalog, strings(field(body, 'object_ids')), 'write');
		}

		case 'update-item-modifier-lists':
		case 'update-item-taxes': {
			return objectLanes(catalog, strings(field(body, 'item_ids')), 'write');
		}

		case 'images': {
			// CreateCatalogImage is multipart; only a JSON body can name the object it attaches to.
			const objectId = field(body, 'object_id');
			return objectLanes(catalog, isExistingId(objectId) ? [objectId] : [], 'write');
		}

		default:
	}

	return {keys: catalog, kind};
}

function collectionLane(request: LaneRequest, collection: string, words: Readonly<Record<string, Word>>, rest: readonly string[]): KeyDecision {
	const {method, body} = request;
	const kind = classify(method);
	const [first, second] = rest;
	if (first === undefined) {
		// A list (GET) or a creation (POST): neither touches an existing object.
		return kind === 'read' || method === 'POST' ? {keys: undefined, kind} : {keys: collection, kind};
	}

	const word = Object.hasOwn(words, first) ? words[first] : undefined;
	if (word === undefined) {
		if (method === 'POST' && second === undefined) {
			// Square's object writes are PUT and DELETE on `/<id>` or POST on `/<id>/<action>`; a POST
			// on `/<word>` is a collection action this table does not know: hold the whole collection.
			return {keys: collection, kind};
		}

		return {keys: `${collection}/${pathSegment(first)}`, kind};
	}

	if (word === 'sub') {
		const lane = `${collection}/${first}`;
		if (second !== undefined) {
			return {keys: `${lane}/${pathSegment(second)}`, kind};
		}

		return kind === 'read' || method === 'POST' ? {keys: undefined, kind} : {keys: lane, kind};
	}

	if (word === 'read' && (kind === 'read' || method === 'POST')) {
		return {keys: undefined, kind: 'read'};
	}

	if (kind === 'read' || word === 'create') {
		return {keys: undefined, kind};
	}

	if (typeof word === 'function') {
		return objectLanes(collection, word(body), 'write');
	}

	return {keys: collection, kind};
}

/** Wrappers a read answer puts its resource in (`RetrieveCustomer` → `{customer: {…}}`). */
const readWrappers = ['object', 'catalog_object', 'customer', 'order', 'invoice', 'booking'] as const;
/** Wrappers a write body puts its resource in; `UpdateCustomer` takes its fields, `version` included, at the top. */
const writeWrappers = ['object', 'order', 'invoice', 'booking'] as const;

function versionOf(value: unknown): string | number | undefined {
	return (typeof value === 'number' && Number.isFinite(value)) || nonEmpty(value) ? value : undefined;
}

const version: Versioning = {
	type: 'field',
	read(resource) {
		if (!isRecord(resource)) {
			return undefined;
		}

		for (const wrapper of readWrappers) {
			const inner = resource[wrapper];
			if (isRecord(inner)) {
				return versionOf(inner.version);
			}
		}

		return versionOf(resource.version);
	},
	write(body, value) {
		if (!isRecord(body)) {
			throw invalid('body', 'a Square write body (a JSON object)', body);
		}

		for (const wrapper of writeWrappers) {
			const inner = body[wrapper];
			if (isRecord(inner)) {
				return {...body, [wrapper]: {...inner, version: value}};
			}
		}

		return {...body, version: value};
	},
};

/**
Where a write is read back: an UpsertCatalogObject (`POST /v2/catalog/object`) of an existing object
at `GET /v2/catalog/object/<id>` (RetrieveCatalogObject); other writes (`PUT /v2/orders/<id>` …) at
their own URL.
*/
function upsertedObject(request: LaneRequest): URL | undefined {
	const segments = pathSegments(request.url.pathname);
	if (request.method !== 'POST' || segments.join('/') !== 'v2/catalog/object') {
		return undefined;
	}

	const id = field(request.body, 'object', 'id');
	const segment = isExistingId(id) ? textSegment(id) : undefined;
	return segment === undefined ? undefined : new URL(`/v2/catalog/object/${segment}`, request.url.origin);
}

function validateOptions(options: SquareOptions | undefined): ReadonlySet<string> {
	const {conflictCodes = defaults.presets.square.conflictCodes} = optionsObject(options) as SquareOptions;
	if (!Array.isArray(conflictCodes) || !conflictCodes.every(nonEmpty)) {
		throw invalid('conflictCodes', 'an array of error codes (non-empty strings)', conflictCodes);
	}

	return new Set(conflictCodes);
}

/**
Preset for the Square API (`https://connect.squareup.com`, sandbox `https://connect.squareupsandbox.com`).
Customers, catalog objects, orders, bookings and invoices carry a read-only `version` that Square
increases on every change; a write sending a stale `version` fails with 400 and `{"errors":
[{"category": "INVALID_REQUEST_ERROR", "code": "VERSION_MISMATCH", "field": "order.version", …}]}`, and
the client re-reads, re-applies and retries, which `update()` does inside the lane.

Lanes (keys carry no host):

| Request | Lane | Kind |
| --- | --- | --- |
| `GET, PUT, DELETE /v2/customers/:id` and `/v2/customers/:id/**` (cards, groups, custom attributes) | `customers/:id` | by method |
| `/v2/orders/:id[/**]` (`PUT`, `POST …/pay`), `/v2/bookings/:id[/**]` (`PUT`, `POST …/cancel`), `/v2/invoices/:id[/**]` (`PUT`, `DELETE`, `POST …/publish`, `…/cancel`) | `orders/:id`, `bookings/:id`, `invoices/:id` | by method |
| `GET, DELETE /v2/catalog/object/:id`, `PUT /v2/catalog/images/:id` | `catalog/:id` | by method |
| `POST /v2/catalog/object` (upsert) | `catalog/<body.object.id>` and related objects | write |
| `POST /v2/catalog/batch-upsert`, `…/batch-delete`, `…/update-item-taxes`, `…/update-item-modifier-lists`, `POST /v2/customers/bulk-delete`, `…/bulk-update` | the lanes of the ids in the body | write |
| searches and batch reads (`POST /v2/customers/search`, `/v2/orders/batch-retrieve`, `/v2/orders/calculate`, `/v2/catalog/search` …), lists | none | read |
| creations (`POST /v2/customers`, `/v2/orders`, `/v2/orders/clone`, `/v2/customers/bulk-create`, an upsert with a `#` id …) | none | write |
| `/v2/customers/groups/:id`, `/v2/customers/segments/:id`, `/v2/<collection>/custom-attribute-definitions/:key` | `<collection>/groups/:id` … | by method |
| a write to the collection the preset cannot attribute (unknown action, unread body) | `customers`, `catalog` … (every object of it) | write |
| anything else (payments, locations …) | the default rule (`host/path`) | by method |

Catalog relations: an upsert takes the lane of the object and of the objects it embeds or belongs to
(an item and its variations, a modifier list and its modifiers, an item option and its values), since
writing an item rewrites its embedded variations. Temporary `#` ids name objects that do not exist
yet. The preset reads JSON bodies (`readsBody`) for these ids.

Versions (`versioning`): `read` finds `version` in a read answer, `{customer: {…}}`, `{object: {…}}`
(RetrieveCatalogObject), `{catalog_object: {…}}` (UpsertCatalogObject), `{order: {…}}`,
`{invoice: {…}}`, `{booking: {…}}`, or at the top of a bare resource; `write` puts it where the write
body expects it: `object.version` (UpsertCatalogObject), `order.version` (UpdateOrder),
`invoice.version` (UpdateInvoice), `booking.version` (UpdateBooking), and the top-level `version` of
an UpdateCustomer body, whose fields are not wrapped. So with `update()`, `mutate` returns the write
body: for catalog objects, orders, invoices and bookings the read's shape fits (`{order: {…}}`); for a
customer, return its fields (`{given_name, …}`), not `{customer: {…}}`.

Reading back (`readUrl`, for `uncertain: 'verify'`): an upsert of an existing catalog object is read
with `GET /v2/catalog/object/<id>`; other writes at their own URL.

Conflicts: 400 or 409 whose `errors` name one of `conflictCodes`. Idempotency: the body field
`idempotency_key` (most create, update and delete endpoints take one; UpdateOrder ignores an update
that reuses the key of an earlier one, so each logical write needs its own key, reused only by its
retries). No `rateLimit`: Square publishes none, it answers 429 `RATE_LIMITED` and asks for backoff.

Sources (Square developer documentation, https://developer.squareup.com):
- Optimistic Concurrency (/docs/working-with-apis/optimistic-concurrency): the `version` field,
  raised on every update, and the version-mismatch error a stale write gets.
- Update Orders (/docs/orders-api/manage-orders/update-orders): `order.version` is required; a new
  `idempotency_key` per update.
- Handling Errors (/docs/build-basics/handling-errors): the `errors` array of `{category, code,
  detail, field}`.
- ErrorCategory and ErrorCode (/reference/square/objects/ErrorCategory, …/ErrorCode):
  `RATE_LIMITED` (429), `VERSION_MISMATCH`, `CONFLICT`.
- The UpsertCatalogObject (`#` temporary ids for creations), UpdateOrder, UpdateInvoice,
  UpdateBooking and UpdateCustomer references: request and response shapes.

@example
```
const lanes = createLanes({keys: square()});
await lanes.update(`${base}/v2/orders/${id}`, ({order}) => ({order: {...order, note: 'gift'}}), {method: 'PUT'});
```
*/
export function square(options?: SquareOptions): Preset {
	const conflictCodes = validateOptions(options);

	const rule: KeyRule = request => {
		const segments = pathSegments(request.url.pathname);
		if (segments[0] !== 'v2' || segments[1] === undefined) {
			return defaultRule(request);
		}

		const rest = segments.slice(2);
		if (segments[1] === catalog) {
			return catalogLane(request, rest);
		}

		const words = Object.hasOwn(collections, segments[1]) ? collections[segments[1]] : undefined;
		return words === undefined ? defaultRule(request) : collectionLane(request, segments[1], words, rest);
	};

	return builtInPreset({
		name: 'square',
		rule,
		readsBody: true,
		versioning: version,
		isConflict: (status, body) => (status === 400 || status === 409) && hasErrorCode(body, conflictCodes),
		idempotency: {bodyField: 'idempotency_key'},
		readUrl: upsertedObject,
	});
}
