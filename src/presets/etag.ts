import {invalid} from '../errors/describe.js';
import {builtInPreset, defaultRule} from '../keys/compile.js';
import {compilePatterns} from '../keys/patterns.js';
import type {KeyPattern, KeyRule, Preset} from '../keys/types.js';
import {optionsObject} from './json.js';

/** Options of the `etag()` preset. */
export type EtagOptions = {
	/**
	Which lane a request takes. A function is called for every request and sees its parsed JSON body;
	a pattern list keys the requests it matches, and the others take the default rule. The default
	rule keys `host[:port]/path`, so every URL is its own lane and the tree of paths is the tree of
	lanes.

	@default the default rule
	@example
	```
	etag({keys: ['/v1/records/:id/**']})
	```
	*/
	readonly keys?: KeyRule | readonly KeyPattern[];
};

/**
A 412 is the answer RFC 9110 gives to a write whose `If-Match` no longer matches: someone changed the
resource since it was read. A 409 is a state conflict (RFC 9110 §15.5.10), what servers that carry
the version in the body answer, so a preset spread from this one with its `versioning` replaced by a
body field still re-reads on it. A 428 (RFC 6585) is not a conflict: it says the write carried no
precondition at all, and re-reading would send the same unconditional write again, so it surfaces as
an HTTP error instead.
*/
const isStaleVersion = (status: number): boolean => status === 412 || status === 409;

function keyRule(keys: unknown): {rule: KeyRule; readsBody: boolean} {
	if (keys === undefined) {
		return {rule: defaultRule, readsBody: false};
	}

	if (typeof keys === 'function') {
		return {rule: keys as KeyRule, readsBody: true};
	}

	if (Array.isArray(keys)) {
		const match = compilePatterns(keys as readonly KeyPattern[], 'keys');
		return {rule: request => match(request) ?? defaultRule(request), readsBody: false};
	}

	throw invalid('keys', 'a key rule function or an array of patterns', keys);
}

/**
Preset for any server that versions its resources with entity tags, as RFC 9110 describes them: a
read answers with an `ETag`, a write sent with `If-Match: <that tag>` fails with 412 Precondition
Failed when the resource changed in between (RFC 9110 §13.1.1 and §15.5.13). `update()` then sends the
strong `ETag` of its read as `If-Match`, and on a 412 re-reads and re-applies its mutation.

Lanes: the default rule (`host[:port]/path`), unless `keys` says otherwise. Conflicts: 412 and 409.
A 428 Precondition Required (RFC 6585 §3) is not a conflict: the server refuses writes without
`If-Match`, and a weak or missing `ETag` on the read is the cause, which a retry cannot fix.

Extending it for a server that carries the version in the body and answers a stale one with 409 keeps
those conflicts: replace `versioning` alone.

```
const accounts: Preset<Account> = {
	...etag({keys: ['/v1/accounts/:id/**']}),
	versioning: {type: 'field', read: account => account.version, write: (body, version) => ({...body, version})},
};
```

Fits, among others, Google APIs that answer a stale `If-Match` with 412 `conditionNotMet`.

Sources:
- RFC 9110, HTTP Semantics (https://www.rfc-editor.org/rfc/rfc9110): §8.8.3 ETag, §13.1.1
  If-Match (strong comparison), §15.5.10 409 Conflict, §15.5.13 412 Precondition Failed.
- RFC 6585, Additional HTTP Status Codes (https://www.rfc-editor.org/rfc/rfc6585): §3 428
  Precondition Required.

@example
```
const lanes = createLanes({keys: etag({keys: ['/v1/records/:id/**']})});
```
*/
export function etag(options?: EtagOptions): Preset {
	const {rule, readsBody} = keyRule(optionsObject(options).keys);
	return builtInPreset({
		name: 'etag',
		rule,
		readsBody,
		versioning: {type: 'etag'},
		isConflict: isStaleVersion,
	});
}
