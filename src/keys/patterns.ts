import {invalid} from '../errors/describe.js';
import {classify} from './classify.js';
import {normalizePathname} from './normalize.js';
import {urlPart} from './request.js';
import {httpToken} from './token.js';
import type {KeyPattern, LaneRequest, OperationKind} from './types.js';

/** What a compiled rule decides: canonical, sorted, unique keys and the kind. */
export type Resolved = {readonly keys: readonly string[]; readonly kind: OperationKind};

/** A key template part: a literal segment, or the index of the path segment a parameter captured. */
type Part = string | number;

type Entry = {
	/** Per pattern segment: the literal it must equal, or `undefined` for a parameter or `*`. */
	readonly literals: ReadonlyArray<string | undefined>;
	/** Ends in `**`: any number of further segments, none included. */
	readonly rest: boolean;
	readonly methods: ReadonlySet<string> | undefined;
	readonly kind: OperationKind | undefined;
	readonly key: readonly Part[] | false;
};

type Segment = {readonly type: 'literal'; readonly value: string} | {readonly type: 'param'; readonly name: string} | {readonly type: 'star'};

const parameterName = /^[A-Za-z_$][\w$]*$/;
const fields = new Set(['pattern', 'key', 'methods', 'kind']);
const noKeys: readonly string[] = Object.freeze([]);

/**
A literal segment spelled the way `normalizeUrl()` spells a path segment, so `'/café'` and
`'/caf%c3%a9'` both match the normalized `/caf%C3%A9`.
*/
function literalSegment(option: string, pattern: string, segment: string): string {
	const parsed = new URL(`http://pattern.invalid/${segment}`).pathname;
	if (parsed === '/' || parsed.includes('/', 1)) {
		throw invalid(option, 'a path pattern without `.` or `..` segments', pattern);
	}

	return normalizePathname(parsed).slice(1);
}

function parsePattern(option: string, pattern: unknown): {segments: Segment[]; rest: boolean} {
	if (typeof pattern !== 'string') {
		throw invalid(option, 'a path pattern string', pattern);
	}

	if (pattern.includes('?') || pattern.includes('#')) {
		throw invalid(option, 'a path pattern without a query or fragment (patterns match the path)', pattern);
	}

	if (pattern.includes('\\')) {
		throw invalid(option, 'a path pattern without backslashes', pattern);
	}

	const parts = pattern.split('/').filter(part => part !== '');
	const segments: Segment[] = [];
	const names = new Set<string>();
	let rest = false;
	for (const [index, part] of parts.entries()) {
		if (part === '**') {
			if (index !== parts.length - 1) {
				throw invalid(option, 'a path pattern with `**` only as its last segment', pattern);
			}

			rest = true;
		} else if (part === '*') {
			segments.push({type: 'star'});
		} else if (part.includes('*')) {
			throw invalid(option, 'a path pattern whose wildcards are whole segments (`*`, `**`)', pattern);
		} else if (part.startsWith(':')) {
			const name = part.slice(1);
			if (!parameterName.test(name)) {
				throw invalid(option, 'a path pattern whose parameters are named like `:id`', pattern);
			}

			if (names.has(name)) {
				throw invalid(option, `a path pattern that names each parameter once (\`:${name}\` repeats)`, pattern);
			}

			names.add(name);
			segments.push({type: 'param', name});
		} else {
			segments.push({type: 'literal', value: literalSegment(option, pattern, part)});
		}
	}

	return {segments, rest};
}

function parseTemplate(option: string, template: string, segments: readonly Segment[]): Part[] {
	const parts: Part[] = [];
	for (const part of template.split('/')) {
		if (part === '') {
			continue;
		}

		if (part.includes('*')) {
			throw invalid(option, 'a key template without wildcards', template);
		}

		if (part.startsWith(':')) {
			const name = part.slice(1);
			if (!parameterName.test(name)) {
				throw invalid(option, 'a key template whose parameters are named like `:id`', template);
			}

			const index = segments.findIndex(segment => segment.type === 'param' && segment.name === name);
			if (index === -1) {
				throw invalid(option, `a key template whose parameters all appear in the pattern (\`:${name}\` does not)`, template);
			}

			parts.push(index);
		} else {
			parts.push(part);
		}
	}

	if (parts.length === 0) {
		throw invalid(option, 'a key template with at least one segment', template);
	}

	return parts;
}

/** The pattern up to its first wildcard, parameters filled in; empty when it starts with one. */
function prefixTemplate(segments: readonly Segment[]): Part[] {
	const parts: Part[] = [];
	for (const [index, segment] of segments.entries()) {
		if (segment.type === 'star') {
			break;
		}

		parts.push(segment.type === 'literal' ? segment.value : index);
	}

	return parts;
}

function parseMethods(option: string, methods: unknown): ReadonlySet<string> {
	if (!Array.isArray(methods) || methods.length === 0) {
		throw invalid(option, 'a non-empty array of method names', methods);
	}

	const set = new Set<string>();
	for (const [index, method] of methods.entries()) {
		if (typeof method !== 'string' || !httpToken.test(method)) {
			throw invalid(`${option}[${index}]`, 'a method name', method);
		}

		set.add(method.toUpperCase());
	}

	return set;
}

function compileEntry(option: string, entry: unknown): Entry {
	if (typeof entry === 'string') {
		const {segments, rest} = parsePattern(option, entry);
		const key = prefixTemplate(segments);
		if (key.length === 0) {
			throw invalid(option, 'a path pattern with a segment before any wildcard (it gives the key), or an object with a `key`', entry);
		}

		return {literals: literalsOf(segments), rest, methods: undefined, kind: undefined, key};
	}

	if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
		throw invalid(option, 'a path pattern string or an object `{pattern, key?, methods?, kind?}`', entry);
	}

	const record = entry as Record<string, unknown>;
	for (const field of Object.keys(record)) {
		if (!fields.has(field)) {
			throw invalid(`${option}.${field}`, 'absent (an entry has only `pattern`, `key`, `methods` and `kind`)', record[field]);
		}
	}

	const {segments, rest} = parsePattern(`${option}.pattern`, record.pattern);

	let key: readonly Part[] | false;
	if (record.key === false) {
		key = false;
	} else if (record.key === undefined) {
		key = prefixTemplate(segments);
		if (key.length === 0) {
			throw invalid(`${option}.key`, 'a key template or false, as the pattern has no segment before its first wildcard', undefined);
		}
	} else if (typeof record.key === 'string') {
		key = parseTemplate(`${option}.key`, record.key, segments);
	} else {
		throw invalid(`${option}.key`, 'a key template string or false', record.key);
	}

	const methods = record.methods === undefined ? undefined : parseMethods(`${option}.methods`, record.methods);

	const {kind} = record;
	if (kind !== undefined && kind !== 'read' && kind !== 'write') {
		throw invalid(`${option}.kind`, "'read' or 'write'", kind);
	}

	return {literals: literalsOf(segments), rest, methods, kind, key};
}

function literalsOf(segments: readonly Segment[]): Array<string | undefined> {
	return segments.map(segment => (segment.type === 'literal' ? segment.value : undefined));
}

function matches(entry: Entry, segments: readonly string[]): boolean {
	const {literals} = entry;
	if (entry.rest ? segments.length < literals.length : segments.length !== literals.length) {
		return false;
	}

	for (let index = 0; index < literals.length; index++) {
		const literal = literals[index];
		if (literal !== undefined && literal !== segments[index]) {
			return false;
		}
	}

	return true;
}

function fill(parts: readonly Part[], segments: readonly string[]): string {
	let key = '';
	for (const part of parts) {
		const value = typeof part === 'number' ? segments[part]! : part;
		key = key === '' ? value : `${key}/${value}`;
	}

	return key;
}

/**
Compiles a pattern list once into segment arrays; the returned matcher splits the request's path
once and compares strings, without a regular expression per request. It returns `undefined` when
no entry matches (the caller falls back to the default rule).

Patterns match the normalized path (see `normalizeUrl()`), without host or query. Parameter values
are the path segments as the normalized URL spells them (still percent-encoded), so a captured
`a%2Fb` stays one key segment and every spelling of a segment gives the same key. Throws a
`TypeError` naming `keys[i]…` for any invalid entry.
*/
export function compilePatterns(list: readonly KeyPattern[], option = 'keys'): (request: LaneRequest) => Resolved | undefined {
	const entries = list.map((entry, index) => compileEntry(`${option}[${index}]`, entry));

	return request => {
		const segments = urlPart(request, 'pathname').split('/').filter(segment => segment !== '');
		for (const entry of entries) {
			if (entry.methods !== undefined && !entry.methods.has(request.method) && !entry.methods.has(request.method.toUpperCase())) {
				continue;
			}

			if (!matches(entry, segments)) {
				continue;
			}

			const kind = entry.kind ?? classify(request.method);
			return entry.key === false ? {keys: noKeys, kind} : {keys: [fill(entry.key, segments)], kind};
		}

		return undefined;
	};
}
