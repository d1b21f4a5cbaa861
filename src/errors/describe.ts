/** Renders a value for an error message: `` `0` (number) ``. Never used on credentials. */
export function describe(value: unknown): string {
	let shown: string;
	if (typeof value === 'string') {
		shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
	} else if (typeof value === 'function') {
		shown = `function ${value.name || '(anonymous)'}`;
	} else if (typeof value === 'bigint') {
		shown = `${value}n`;
	} else if (typeof value === 'symbol') {
		shown = value.toString();
	} else if (value === null || typeof value !== 'object') {
		shown = String(value);
	} else if (Array.isArray(value)) {
		shown = `[array of ${value.length}]`;
	} else {
		shown = `[${value.constructor?.name ?? 'object'}]`;
	}

	const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
	return `\`${shown}\` (${type})`;
}

/** `TypeError` for an invalid option, in the house wording. */
export function invalid(option: string, expected: string, value: unknown): TypeError {
	return new TypeError(`Expected \`${option}\` to be ${expected}, got ${describe(value)}`);
}

/**
Throws a `TypeError` for the first own property of `value` not in `known`, so a misspelt nested
option (`retry.limt`) fails instead of silently doing nothing. `option` is the path of `value`
(`'retry'`); `known` lists every field its type declares.
*/
export function rejectUnknown(option: string, value: object, known: readonly string[]): void {
	for (const name of Object.keys(value)) {
		if (!known.includes(name)) {
			throw new TypeError(`Unknown option \`${option}.${name}\`; known options of \`${option}\`: ${known.join(', ')}`);
		}
	}
}

/** The field names of an options type; the compiler keeps each list complete and exact. */
export function fields<T extends object>(names: Record<keyof T, true>): readonly string[] {
	return Object.keys(names);
}
