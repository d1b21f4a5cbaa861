import {invalid} from '../errors/describe.js';
import {normalizePathname} from '../keys/normalize.js';

/*
What the API presets share: reading parsed JSON bodies (to recognise an API's conflict answer or find
the id a request targets) and spelling ids as lane-key segments.
*/

export type JsonObject = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonObject {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function nonEmpty(value: unknown): value is string {
	return typeof value === 'string' && value !== '';
}

/** The value at `path` inside a parsed JSON body, or `undefined` when any step is missing. */
export function field(value: unknown, ...path: readonly string[]): unknown {
	let current = value;
	for (const name of path) {
		if (!isRecord(current)) {
			return undefined;
		}

		current = current[name];
	}

	return current;
}

/** The non-empty strings of a JSON array (`['a', 3, '']` → `['a']`); anything else gives none. */
export function strings(value: unknown): string[] {
	return Array.isArray(value) ? value.filter(nonEmpty) : [];
}

/**
Whether a body of the `{errors: [{code, …}]}` shape (Square's) names one of `codes`. Bodies of any
other shape name none.
*/
export function hasErrorCode(body: unknown, codes: ReadonlySet<string>): boolean {
	const errors = field(body, 'errors');
	return Array.isArray(errors) && errors.some(error => codes.has(field(error, 'code') as string));
}

/**
An id taken from a normalized URL path as one key segment. It is decoded and re-encoded, so the
spellings a server treats alike (`system:admin`, `system%3Aadmin`) share a lane, and an id read from
a JSON body (see `textSegment()`) gets the same segment as the id in the path.
*/
export function pathSegment(segment: string): string {
	try {
		return encodeURIComponent(decodeURIComponent(segment));
	} catch {
		// Escapes that are not UTF-8: the normalized spelling is already canonical.
		return segment;
	}
}

/** An id read from a JSON body as one key segment; `undefined` when it cannot be encoded (a lone surrogate). */
export function textSegment(text: string): string | undefined {
	try {
		return encodeURIComponent(text);
	} catch {
		return undefined;
	}
}

/** The path segments of a normalized URL path (`/v1/pages/x` → `['v1', 'pages', 'x']`). */
export function pathSegments(pathname: string): string[] {
	return pathname.split('/').filter(segment => segment !== '');
}

/**
Validates a `basePath`-style option: an absolute path, returned as its normalized segments (`'/v1/'`
→ `['v1']`, `'/'` → `[]`), spelled the way `normalizeUrl()` spells request paths.
*/
export function basePathSegments(option: string, value: unknown): string[] {
	if (typeof value !== 'string' || !value.startsWith('/') || /[?#\\]/.test(value)) {
		throw invalid(option, 'an absolute path like `/v1` (no query, fragment or backslash)', value);
	}

	const {pathname} = new URL(value, 'http://base.invalid');
	return pathSegments(normalizePathname(pathname));
}

/** The caller's options object, or `{}`; anything else than an object or `undefined` throws. */
export function optionsObject(options: unknown): JsonObject {
	if (options === undefined) {
		return {};
	}

	if (!isRecord(options)) {
		throw invalid('options', 'an object', options);
	}

	return options;
}
