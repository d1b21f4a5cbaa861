import {invalid} from '../errors/describe.js';

const slash = 47;

/** Whether `key` is spelled canonically already: what `canonicalKey()` returns as it is. */
export function isCanonicalKey(key: string): boolean {
	return key.length > 0 && key.charCodeAt(0) !== slash && key.charCodeAt(key.length - 1) !== slash && !key.includes('//');
}

/**
Canonical spelling of a lane key: `/`-separated segments without leading, trailing or repeated
slashes, so `'/objects//9f2c/'` and `'objects/9f2c'` name one lane. Throws a `TypeError` naming
`option` for anything that is not a string with at least one segment.
*/
export function canonicalKey(value: unknown, option = 'key'): string {
	if (typeof value !== 'string') {
		throw invalid(option, 'a non-empty string', value);
	}

	if (isCanonicalKey(value)) {
		return value;
	}

	const key = value
		.split('/')
		.filter(segment => segment !== '')
		.join('/');
	if (key === '') {
		throw invalid(option, 'a non-empty string with at least one segment', value);
	}

	return key;
}

/** Canonical, de-duplicated, sorted keys; the order makes multi-key acquisition deadlock-free in any backend. */
export function canonicalKeys(value: unknown, option = 'key'): string[] {
	if (typeof value === 'string') {
		return [canonicalKey(value, option)];
	}

	if (!Array.isArray(value)) {
		throw invalid(option, 'a string or an array of strings', value);
	}

	return sortedUnique(value.map((key, index) => canonicalKey(key, `${option}[${index}]`)));
}

/** Canonical keys in canonical order, each once (sorts `keys` in place). */
export function sortedUnique(keys: string[]): string[] {
	if (keys.length > 1) {
		keys.sort();
		return keys.filter((key, index) => key !== keys[index - 1]);
	}

	return keys;
}
