import {describe, invalid} from '../core/describe.js';
import {canonicalKey, sortedUnique} from '../core/key.js';
import {classify} from './classify.js';
import {defaultKey} from './normalize.js';
import {compilePatterns, type Resolved} from './patterns.js';
import type {CompiledKeys, KeyDecision, KeyPattern, KeyRule, KeysOption, LaneRequest, OperationKind, Preset} from './types.js';

const noKeys: readonly string[] = Object.freeze([]);

/**
The default key rule: `host[:port]/path` of the normalized URL (see `defaultKey()`), so every URL
path is its own lane and the tree of paths is the tree of lanes. Useful to fall back to from a
custom rule: `keys: request => special(request) ?? defaultRule(request)`.
*/
export const defaultRule: KeyRule = request => defaultKey(request.url);

function resolveDefault(request: LaneRequest): Resolved {
	return {keys: [defaultKey(request.url)], kind: classify(request.method)};
}

function resultError(path: string, expected: string, value: unknown): TypeError {
	return new TypeError(`Expected the key rule's result${path} to be ${expected}, got ${describe(value)}`);
}

function ruleKey(value: unknown, path: string): string {
	if (typeof value !== 'string') {
		throw resultError(path, 'a key (a non-empty string)', value);
	}

	try {
		return canonicalKey(value);
	} catch {
		throw resultError(path, 'a key with at least one segment', value);
	}
}

function ruleKeys(value: unknown, path: string): readonly string[] {
	if (value === undefined) {
		return noKeys;
	}

	if (typeof value === 'string') {
		return [ruleKey(value, path)];
	}

	if (!Array.isArray(value)) {
		throw resultError(path, 'a key, an array of keys or undefined', value);
	}

	return sortedUnique(value.map((key: unknown, index) => ruleKey(key, `${path}[${index}]`)));
}

/** Validates what a user's rule returned; a rule is user code, so its result is checked on every call. */
export function resolveDecision(decision: KeyDecision, method: string): Resolved {
	if (decision === undefined || typeof decision === 'string' || Array.isArray(decision)) {
		return {keys: ruleKeys(decision, ''), kind: classify(method)};
	}

	if (typeof decision !== 'object' || decision === null) {
		throw resultError('', 'a key, an array of keys, `{keys, kind}` or undefined', decision);
	}

	if (typeof (decision as {then?: unknown}).then === 'function') {
		throw resultError('', 'a key, an array of keys, `{keys, kind}` or undefined (rules are synchronous)', decision);
	}

	const {keys, kind} = decision as {readonly keys?: unknown; readonly kind?: unknown};
	if (kind !== undefined && kind !== 'read' && kind !== 'write') {
		throw resultError('.kind', "'read', 'write' or undefined", kind);
	}

	return {keys: ruleKeys(keys, '.keys'), kind: (kind as OperationKind | undefined) ?? classify(method)};
}

function compileRule(rule: KeyRule, readsBody: boolean, preset: Preset | undefined): CompiledKeys {
	return {
		resolve: request => resolveDecision(rule(request), request.method),
		readsBody,
		observe: preset?.observe,
		preset,
	};
}

function compilePreset(preset: Preset): CompiledKeys {
	if (typeof preset.rule !== 'function') {
		throw invalid('keys.rule', 'a function', preset.rule);
	}

	if (typeof preset.name !== 'string') {
		throw invalid('keys.name', 'a string', preset.name);
	}

	if (preset.readsBody !== undefined && typeof preset.readsBody !== 'boolean') {
		throw invalid('keys.readsBody', 'a boolean', preset.readsBody);
	}

	for (const name of ['observe', 'isConflict', 'bucket'] as const) {
		if (preset[name] !== undefined && typeof preset[name] !== 'function') {
			throw invalid(`keys.${name}`, 'a function', preset[name]);
		}
	}

	const {versioning} = preset;
	if (
		versioning !== undefined &&
		!(versioning?.type === 'etag' || (versioning?.type === 'field' && typeof versioning.read === 'function' && typeof versioning.write === 'function'))
	) {
		throw invalid('keys.versioning', "`{type: 'etag'}` or `{type: 'field', read, write}`", versioning);
	}

	return compileRule(preset.rule, preset.readsBody ?? false, preset);
}

/**
Turns the `keys` option into what the adapters use, validating it eagerly.

- `undefined`: the default rule, `host[:port]/path` (see `defaultKey()`).
- A function: called for every request; its result is validated each time (a bad key throws a
  `TypeError` naming the rule's result). It sees the parsed JSON body (`readsBody: true`); to spare
  the parsing, wrap it in a preset `{name, rule, readsBody: false}`.
- An array of patterns: see `compilePatterns()`. A request that matches no entry falls back to the
  default rule rather than to no lane: on a last-write-wins API an unkeyed write would overlap
  everything, so forgetting a path must cost parallelism, not correctness.
- A preset (an object with a `rule`): its rule, `readsBody` and `observe`.

`resolve()` returns canonical, sorted, unique keys and the kind (the rule's, else `classify()`).
Anything else throws a `TypeError` naming `keys`.
*/
export function compileKeys(option: KeysOption | undefined): CompiledKeys {
	if (option === undefined) {
		return {resolve: resolveDefault, readsBody: false, observe: undefined, preset: undefined};
	}

	if (typeof option === 'function') {
		return compileRule(option, true, undefined);
	}

	if (Array.isArray(option)) {
		const match = compilePatterns(option as readonly KeyPattern[], 'keys');
		return {
			resolve: request => match(request) ?? resolveDefault(request),
			readsBody: false,
			observe: undefined,
			preset: undefined,
		};
	}

	if (typeof option === 'object' && option !== null && 'rule' in option) {
		return compilePreset(option as Preset);
	}

	throw invalid('keys', 'a key rule function, an array of patterns or a preset', option);
}
