import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import {classify} from '../keys/classify.js';
import {builtInPreset, defaultRule} from '../keys/compile.js';
import {normalizePathname} from '../keys/normalize.js';
import type {KeyDecision, KeyRule, Preset} from '../keys/types.js';
import {basePathSegments, field, optionsObject, pathSegment, pathSegments} from './json.js';

/** Options of the `rekord()` preset. */
export type RekordOptions = {
	/**
	The path the API is served under. Requests outside it take the default rule.

	@default '/'
	@example
	```
	rekord({basePath: '/v1'})
	```
	*/
	readonly basePath?: string;
	/**
	The collections of versioned resources: each `/<collection>/<id>` and everything below it is one
	lane, `<collection>/<id>`.

	@default ['records']
	*/
	readonly collections?: readonly string[];
};

/** One path segment spelled as the normalized request path spells it. */
function collectionSegment(value: unknown, index: number): string {
	const option = `collections[${index}]`;
	if (typeof value !== 'string' || value === '' || /[/?#\\]/.test(value) || value === '.' || value === '..') {
		throw invalid(option, 'a path segment (a non-empty string without `/`, `?`, `#`)', value);
	}

	return normalizePathname(new URL(`/${value}`, 'http://base.invalid').pathname).slice(1);
}

function validateOptions(options: RekordOptions | undefined): {base: string[]; collections: ReadonlySet<string>} {
	const {basePath = defaults.presets.rekord.basePath, collections = defaults.presets.rekord.collections} = optionsObject(options) as RekordOptions;
	const base = basePathSegments('basePath', basePath);
	if (!Array.isArray(collections) || collections.length === 0) {
		throw invalid('collections', 'a non-empty array of path segments', collections);
	}

	return {base, collections: new Set(collections.map((value: unknown, index) => collectionSegment(value, index)))};
}

/**
Preset for a Rekord-like API: a REST API whose resources carry an entity tag taken from a monotonic
version counter (`ETag: "5"`), where a write with `If-Match` fails with 412 and the body
`{"error": {"status": 412, "code": "precondition_failed", …}}` once someone else wrote, a read with
`If-None-Match` answers 304, `If-Match` is optional (a write without it silently overwrites), and too
many requests answer 429 `too_many_requests` with `Retry-After`. `update()` sends the strong `ETag`
of its read as `If-Match` and, on that 412, re-reads, re-applies and retries.

Paths (relative to `basePath`; keys carry no host):

| Request | Lane | Kind |
| --- | --- | --- |
| `GET /records` (list; any read method) | none | read |
| `POST /records` (creation: the server picks the id) | none | write |
| any other method on `/records` | `records` (every record) | write |
| `GET, PUT, PATCH, DELETE /records/:id` | `records/:id` | by method |
| `/records/:id/**` (fields, attachments, history …) | `records/:id` | by method |
| anything else | the default rule (`host/path`) | by method |

The sub-resources of a record share its lane because they share its version counter: a write to one
changes the `ETag` every other write of that record is conditioned on. Ids are compared as the server
reads them: `%`-escapes are decoded (`a%3Ab` and `a:b` are one lane), case is kept.

Conflicts: 412 with `error.code` `precondition_failed` (writelane treats every 412 and 409 as one).

Source: the Rekord facts in DESIGN.md §4 (ETag from a version counter; If-Match → 412
`precondition_failed`; If-None-Match → 304; 429 `too_many_requests` with Retry-After; retry 429,
500, 503, never a 4xx conflict without re-reading). No rate limit is published, so `rateLimit` is
left to the caller and the 429's `Retry-After` paces the rest.

@example
```
const lanes = createLanes({keys: rekord({basePath: '/v1'})});
await lanes.update('https://api.example.com/v1/records/42', record => ({...record, done: true}));
```
*/
export function rekord(options?: RekordOptions): Preset {
	const {base, collections} = validateOptions(options);

	const rule: KeyRule = request => {
		const segments = pathSegments(request.url.pathname);
		const collection = segments[base.length];
		if (collection === undefined || !collections.has(collection) || base.some((segment, index) => segments[index] !== segment)) {
			return defaultRule(request);
		}

		const id = segments[base.length + 1];
		if (id !== undefined) {
			return `${collection}/${pathSegment(id)}`;
		}

		if (classify(request.method) === 'read') {
			return {keys: undefined, kind: 'read'} satisfies KeyDecision;
		}

		return {keys: request.method === 'POST' ? undefined : collection, kind: 'write'} satisfies KeyDecision;
	};

	return builtInPreset({
		name: 'rekord',
		rule,
		readsBody: false,
		versioning: {type: 'etag'},
		isConflict: (status, body) => status === 412 && field(body, 'error', 'code') === 'precondition_failed',
	});
}
