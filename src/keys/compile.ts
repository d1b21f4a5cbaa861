import {describe, fields, invalid, rejectUnknown} from '../errors/describe.js';
import {canonicalKey, isCanonicalKey, sortedUnique} from './key.js';
import {HookError} from '../errors/errors.js';
import {classify} from './classify.js';
import {compilePatterns, type Resolved} from './patterns.js';
import {defaultKeyOf} from './request.js';
import type {CompiledKeys, KeyDecision, KeyPattern, KeyRule, KeysOption, LaneRequest, OperationKind, Preset} from './types.js';

const noKeys: readonly string[] = Object.freeze([]);

/**
The default key rule: `host[:port]/path` of the normalized URL (see `defaultKey()`), so every URL
path is its own lane and the tree of paths is the tree of lanes. Useful to fall back to from a
custom rule: `keys: request => special(request) ?? defaultRule(request)`.
*/
export const defaultRule: KeyRule = request => defaultKeyOf(request);

function resolveDefault(request: LaneRequest): Resolved {
	return {keys: [defaultKeyOf(request)], kind: classify(request.method)};
}

function resultError(path: string, expected: string, value: unknown): TypeError {
	return new TypeError(`Expected the key rule's result${path} to be ${expected}, got ${describe(value)}`);
}

/** `index`: where the key is in the array the rule returned (its path is spelled only for an error). */
function ruleKey(value: unknown, path: string, index?: number): string {
	if (typeof value !== 'string') {
		throw resultError(index === undefined ? path : `${path}[${index}]`, 'a key (a non-empty string)', value);
	}

	try {
		return canonicalKey(value);
	} catch {
		throw resultError(index === undefined ? path : `${path}[${index}]`, 'a key with at least one segment', value);
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

	return sortedUnique(value.map((key: unknown, index) => ruleKey(key, path, index)));
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

/**
A decision of writelane's own rules, which return a fresh `{keys, kind}` each time: one canonical key
and a kind is the result as it is; anything else goes through `resolveDecision()`.
*/
function ownDecision(decision: KeyDecision, method: string): Resolved {
	if (typeof decision === 'object' && decision !== null && !Array.isArray(decision)) {
		const {keys, kind} = decision as {readonly keys?: unknown; readonly kind?: OperationKind};
		if (kind !== undefined && Array.isArray(keys) && keys.length === 1 && typeof keys[0] === 'string' && isCanonicalKey(keys[0])) {
			return decision as Resolved;
		}
	}

	return resolveDecision(decision, method);
}

/** The hooks of writelane's own presets that see a request; they read its properties and never copy or enumerate it. */
const builtInHooks = new WeakSet<object>();

function requestHooks(preset: Preset): ReadonlyArray<object | undefined> {
	return [preset.rule, preset.observe, preset.learn?.when, preset.learn?.body, preset.readUrl, preset.bucket];
}

/** Marks the hooks of a preset a built-in factory made (see `CompiledKeys.builtIn`); returns the preset. */
export function builtInPreset<P extends Preset>(preset: P): P {
	for (const hook of requestHooks(preset)) {
		if (hook !== undefined) {
			builtInHooks.add(hook);
		}
	}

	return preset;
}

/** Whether every hook of `preset` that sees a request is a built-in one (a hook of the caller's makes it not). */
function isBuiltIn(preset: Preset): boolean {
	return requestHooks(preset).every(hook => hook === undefined || builtInHooks.has(hook));
}

/** Who a hook belongs to, for `HookError` messages: "The key rule", "The `capacities` preset's `bucket`". */
function hookOwner(preset: Preset | undefined, hook: string): string {
	if (preset === undefined) {
		return 'The key rule';
	}

	return hook === 'rule' ? `The \`${preset.name}\` preset's rule` : `The \`${preset.name}\` preset's \`${hook}\``;
}

function hookError(preset: Preset | undefined, hook: string, cause: unknown, request?: LaneRequest): HookError {
	// Method and path only: the query and headers a rule sees may carry credentials.
	const target = request === undefined ? '' : ` on ${request.method} ${request.url.origin}${request.url.pathname}`;
	return new HookError(`${hookOwner(preset, hook)} threw${target}; the request was not sent (the thrown value is the \`cause\`)`, {hook, cause});
}

/** A hook that throws fails its own operation with a `HookError`, which says whose code it was. */
function guarded<A extends unknown[], R>(preset: Preset, hook: string, fn: (...args: A) => R): (...args: A) => R {
	return (...args: A) => {
		try {
			return fn(...args);
		} catch (error) {
			throw new HookError(`${hookOwner(preset, hook)} threw (the thrown value is the \`cause\`)`, {hook, cause: error});
		}
	};
}

function compileRule(rule: KeyRule, readsBody: boolean, preset: Preset | undefined, builtIn = false): CompiledKeys {
	return {
		resolve(request) {
			let decision: KeyDecision;
			try {
				decision = rule(request);
			} catch (error) {
				throw hookError(preset, 'rule', error, request);
			}

			return builtIn ? ownDecision(decision, request.method) : resolveDecision(decision, request.method);
		},
		readsBody,
		observe: preset?.observe,
		preset,
		builtIn,
	};
}

/** The preset with its decision hooks wrapped by `guarded()`; what it leaves out stays left out. */
function guardedPreset(preset: Preset): Preset {
	const {bucket, isConflict, readUrl, versioning} = preset;
	return {
		...preset,
		...(bucket && {bucket: guarded(preset, 'bucket', bucket)}),
		...(isConflict && {isConflict: guarded(preset, 'isConflict', isConflict)}),
		...(readUrl && {readUrl: guarded(preset, 'readUrl', readUrl)}),
		...(versioning?.type === 'field' && {
			versioning: {
				...versioning,
				read: guarded(preset, 'versioning.read', versioning.read),
				write: guarded(preset, 'versioning.write', versioning.write),
			},
		}),
	};
}

const presetFields = fields<Preset>({
	name: true,
	rule: true,
	readsBody: true,
	observe: true,
	learn: true,
	versioning: true,
	isConflict: true,
	readUrl: true,
	bucket: true,
	rateLimit: true,
	idempotency: true,
});

function isObject(value: unknown): value is object {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Misspelt preset fields (`readBody`, `versioning.raed`) fail instead of silently changing nothing. */
function rejectUnknownPresetFields(preset: Preset): void {
	rejectUnknown('keys', preset, presetFields);
	const {versioning, rateLimit, idempotency} = preset as {versioning?: unknown; rateLimit?: unknown; idempotency?: unknown};
	if (isObject(versioning)) {
		rejectUnknown('keys.versioning', versioning, ['type', 'read', 'write']);
	}

	if (isObject(rateLimit)) {
		rejectUnknown('keys.rateLimit', rateLimit, ['limit', 'interval']);
	}

	if (isObject(idempotency)) {
		rejectUnknown('keys.idempotency', idempotency, ['header', 'bodyField']);
	}
}

function compilePreset(preset: Preset): CompiledKeys {
	rejectUnknownPresetFields(preset);
	if (typeof preset.rule !== 'function') {
		throw invalid('keys.rule', 'a function', preset.rule);
	}

	if (typeof preset.name !== 'string') {
		throw invalid('keys.name', 'a string', preset.name);
	}

	if (preset.readsBody !== undefined && typeof preset.readsBody !== 'boolean') {
		throw invalid('keys.readsBody', 'a boolean', preset.readsBody);
	}

	for (const name of ['observe', 'isConflict', 'readUrl', 'bucket'] as const) {
		if (preset[name] !== undefined && typeof preset[name] !== 'function') {
			throw invalid(`keys.${name}`, 'a function', preset[name]);
		}
	}

	const {learn} = preset;
	if (learn !== undefined && !(typeof learn === 'object' && learn !== null && typeof learn.when === 'function' && typeof learn.body === 'function')) {
		throw invalid('keys.learn', '`{when, body}` (two functions)', learn);
	}

	const {versioning} = preset;
	if (
		versioning !== undefined &&
		!(versioning?.type === 'etag' || (versioning?.type === 'field' && typeof versioning.read === 'function' && typeof versioning.write === 'function'))
	) {
		throw invalid('keys.versioning', "`{type: 'etag'}` or `{type: 'field', read, write}`", versioning);
	}

	return compileRule(preset.rule, preset.readsBody ?? false, guardedPreset(preset), isBuiltIn(preset));
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
		return {resolve: resolveDefault, readsBody: false, observe: undefined, preset: undefined, builtIn: true};
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
			builtIn: true,
		};
	}

	if (typeof option === 'object' && option !== null && 'rule' in option) {
		return compilePreset(option as Preset);
	}

	throw invalid('keys', 'a key rule function, an array of patterns or a preset', option);
}
