import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import {classify} from '../keys/classify.js';
import {builtInPreset, defaultRule} from '../keys/compile.js';
import type {KeyDecision, KeyRule, LaneRequest, Preset, Versioning} from '../keys/types.js';
import {field, isRecord, nonEmpty, optionsObject, pathSegment, pathSegments, textSegment} from './json.js';

/** Options of the `kubernetes()` preset. */
export type KubernetesOptions = {
	/**
	Put the API group into the resource segment of a key (`deployments.apps/default/web`), so resources
	of different groups with the same plural get separate lanes. Off by default: one object can be
	served under several groups or versions (`events` in the core group and in `events.k8s.io`), and
	one object must keep one lane; merging two lanes only costs parallelism.

	@default false
	*/
	readonly groups?: boolean;
};

/** Subresources that stream or proxy instead of changing the object: holding its lane would block its writers. */
const streaming = new Set(['attach', 'exec', 'log', 'portforward', 'proxy']);
/** Subresources of a namespace object, which would otherwise read as a collection in that namespace. */
const namespaceSubresources = new Set(['finalize', 'status']);

const none = (kind: 'read' | 'write'): KeyDecision => ({keys: undefined, kind});

/** `?watch=true` (or `1`) turns a GET into a long-lived stream. */
function isWatch(url: URL): boolean {
	const watch = url.searchParams.get('watch');
	return watch !== null && watch !== 'false' && watch !== '0';
}

/**
A create names its object in `metadata.name`; with `generateName` the server picks the name, so the
create takes no lane (it cannot collide with an existing object's writes).
*/
function createdName(body: unknown): string | undefined {
	const name = field(body, 'metadata', 'name');
	return nonEmpty(name) ? textSegment(name) : undefined;
}

/**
The lane of a request below a group version: `rest` is the path after `/api/v1` or
`/apis/<group>/<version>`, `resource` spells the resource segment.
*/
function resourceLane(request: LaneRequest, rest: readonly string[], resource: (plural: string) => string): KeyDecision {
	const kind = classify(request.method);
	let scope: string | undefined;
	let parts = rest;
	if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && namespaceSubresources.has(rest[2]!))) {
		scope = pathSegment(rest[1]!);
		parts = rest.slice(2);
	}

	const [plural, name, subresource] = parts;
	if (plural === undefined) {
		return kind === 'read' ? none('read') : defaultRule(request);
	}

	const collection = scope === undefined ? resource(plural) : `${resource(plural)}/${scope}`;
	if (name === undefined) {
		if (request.method !== 'POST') {
			// A list, or a DELETE of the whole collection, which holds every object in it.
			return {keys: collection, kind};
		}

		const created = createdName(request.body);
		return {keys: created === undefined ? undefined : `${collection}/${created}`, kind};
	}

	if (subresource !== undefined && streaming.has(subresource)) {
		return none(kind);
	}

	// `status` and `scale` are views of the object with its resourceVersion: one lane.
	return {keys: `${collection}/${pathSegment(name)}`, kind};
}

const resourceVersion: Versioning = {
	type: 'field',
	read(resource) {
		const version = field(resource, 'metadata', 'resourceVersion');
		return nonEmpty(version) ? version : undefined;
	},
	write(body, version) {
		if (!isRecord(body)) {
			throw invalid('body', 'a Kubernetes object (a JSON object with `metadata`)', body);
		}

		const metadata = isRecord(body.metadata) ? body.metadata : {};
		return {...body, metadata: {...metadata, resourceVersion: String(version)}};
	},
};

/**
Preset for the Kubernetes API server. Every object carries `metadata.resourceVersion`, an opaque string
that changes on every write; an update or replace sending the resourceVersion it read fails with 409
and a `Status` whose `reason` is `Conflict` when someone wrote in between. `update()` puts the version it
read into the write body's `metadata.resourceVersion` and, on that 409, re-reads and re-applies. Use
`method: 'PUT'` with `update()`: a PATCH must carry a patch media type, and `update()` sends
`application/json`.

Paths (`/api/v1/…` for the core group, `/apis/<group>/<version>/…` for the others; keys carry no host,
group or version):

| Request | Lane | Kind |
| --- | --- | --- |
| `…/namespaces/<ns>/<resource>/<name>` and its subresources | `<resource>/<ns>/<name>` | by method |
| `…/<resource>/<name>` (cluster-scoped) and its subresources | `<resource>/<name>` | by method |
| `…/namespaces/<ns>` (and its `status`, `finalize`) | `namespaces/<ns>` | by method |
| `GET …/namespaces/<ns>/<resource>` (list), `DELETE` (delete collection) | `<resource>/<ns>` | by method |
| `GET …/<resource>` (cluster-wide list) | `<resource>` | read |
| `POST` to a collection with `metadata.name` | `<resource>/[<ns>/]<name>` | write |
| `POST` to a collection with `generateName` only | none | write |
| `exec`, `attach`, `portforward`, `proxy`, `log` subresources; `?watch=1`; `…/watch/…` | none | by method |
| discovery (`GET /api`, `/apis/<group>/<version>` …) | none | read |
| anything else | the default rule (`host/path`) | by method |

Subresources such as `status` and `scale` share the object's lane: they write the same object and
bump the same resourceVersion. Streams and watches take no lane, since they would hold it for as long
as they stay open. A key omits the group unless `groups` is set, so an object served under two groups
keeps one lane. Names are compared as the server reads them (`system:admin` and `system%3Aadmin` are
one lane). The preset reads JSON bodies (`readsBody`) only to name a created object.

Conflicts: 409 with `reason: 'Conflict'`. A 409 `AlreadyExists` (a create whose name is taken) is not
a stale version, and the preset does not call it one.

The server paces clients itself (API Priority and Fairness answers 429 with `Retry-After`), so the
preset sets no `rateLimit`.

Sources:
- Kubernetes API Concepts (https://kubernetes.io/docs/reference/using-api/api-concepts/): resource
  URIs `/apis/GROUP/VERSION/namespaces/NAMESPACE/RESOURCETYPE/NAME` and cluster-scoped
  `/apis/GROUP/VERSION/RESOURCETYPE/NAME`, subresources, watches (`?watch=1`).
- ObjectMeta API reference: `resourceVersion` is opaque, passed back unmodified to detect
  concurrent changes, or omitted to write unconditionally.
- API conventions (https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md):
  `Status` reasons `Conflict` and `AlreadyExists`, both with code 409.

@example
```
const lanes = createLanes({keys: kubernetes()});
await lanes.update(`${server}/apis/apps/v1/namespaces/default/deployments/web`, scaleTo(3), {method: 'PUT'});
```
*/
export function kubernetes(options?: KubernetesOptions): Preset {
	const {groups = defaults.presets.kubernetes.groups} = optionsObject(options) as KubernetesOptions;
	if (typeof groups !== 'boolean') {
		throw invalid('groups', 'a boolean', groups);
	}

	const rule: KeyRule = request => {
		const segments = pathSegments(request.url.pathname);
		let rest: string[];
		let group: string | undefined;
		if (segments[0] === 'api') {
			rest = segments.slice(2);
		} else if (segments[0] === 'apis') {
			group = segments[1];
			rest = segments.slice(3);
		} else {
			return defaultRule(request);
		}

		const kind = classify(request.method);
		if (rest[0] === 'watch' || (kind === 'read' && isWatch(request.url))) {
			return none(kind);
		}

		const suffix = groups && group !== undefined ? `.${pathSegment(group)}` : '';
		return resourceLane(request, rest, plural => pathSegment(plural) + suffix);
	};

	return builtInPreset({
		name: 'kubernetes',
		rule,
		readsBody: true,
		versioning: resourceVersion,
		isConflict: (status, body) => status === 409 && field(body, 'reason') === 'Conflict',
	});
}
