import type {Random} from './random.js';
import {InputError} from './reply.js';
import type {LwwBlock, LwwPropertyValue} from './types.js';

// Capacities ids are UUIDs; any version is accepted.
const uuidPattern = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;

/** Block types that may hold child blocks (the append target of `parentBlockId`). */
export const containerTypes: ReadonlySet<string> = new Set(['TextBlock', 'GroupBlock']);

export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isUuid(value: unknown): value is string {
	return typeof value === 'string' && uuidPattern.test(value);
}

export function field(parent: string, name: string | number): string {
	if (typeof name === 'number') {
		return `${parent}[${name}]`;
	}

	return parent === '' ? name : `${parent}.${name}`;
}

export function expectRecord(value: unknown, name: string): Record<string, unknown> {
	if (!isRecord(value)) {
		throw new InputError(name, 'an object', value);
	}

	return value;
}

export function expectUuid(value: unknown, name: string): string {
	if (!isUuid(value)) {
		throw new InputError(name, 'a UUID', value);
	}

	return value.toLowerCase();
}

export function expectString(value: unknown, name: string): string {
	if (typeof value !== 'string') {
		throw new InputError(name, 'a string', value);
	}

	return value;
}

export function expectTimestamp(value: unknown, name: string): string {
	if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
		throw new InputError(name, 'an ISO 8601 timestamp', value);
	}

	return new Date(value).toISOString();
}

/** `{propId: {type, [type]: value}}`; values are copied. */
export function parseProperties(value: unknown, name: string): Record<string, LwwPropertyValue> {
	const record = expectRecord(value, name);
	const properties: Record<string, LwwPropertyValue> = {};
	for (const [key, property] of Object.entries(record)) {
		if (
			!isRecord(property) ||
			typeof property.type !== 'string' ||
			property.type === '' ||
			!Object.hasOwn(property, property.type)
		) {
			throw new InputError(field(name, key), 'a property value `{type, [type]: value}`', property);
		}

		properties[key] = structuredClone(property) as LwwPropertyValue;
	}

	return properties;
}

export function parseCollections(value: unknown, name: string): string[] {
	if (!Array.isArray(value)) {
		throw new InputError(name, 'an array of collection UUIDs', value);
	}

	return value.map((id, index) => expectUuid(id, field(name, index)));
}

/**
A title given as a string (`title`) and/or as `properties.title`. The shorthand becomes the property;
giving both is ambiguous and rejected.
*/
export function mergeTitle(
	title: unknown,
	properties: Record<string, LwwPropertyValue>,
	name: string,
): Record<string, LwwPropertyValue> {
	if (title === undefined) {
		return properties;
	}

	if (typeof title !== 'string') {
		throw new InputError(field(name, 'title'), 'a string', title);
	}

	if (Object.hasOwn(properties, 'title')) {
		throw new InputError(field(name, 'title'), 'absent when `properties.title` is given', title);
	}

	return {...properties, title: {type: 'title', title: {value: title}}};
}

/**
Validates and copies blocks, assigning ids to blocks without one. `usedIds` holds the block ids of
the object the blocks go into; new ids are added to it, so ids stay unique within an object.
*/
export function parseBlocks(value: unknown, name: string, random: Random, usedIds: Set<string>): LwwBlock[] {
	if (!Array.isArray(value)) {
		throw new InputError(name, 'an array of blocks', value);
	}

	return value.map((block, index) => parseBlock(block, field(name, index), random, usedIds));
}

export function parseBlock(value: unknown, name: string, random: Random, usedIds: Set<string>): LwwBlock {
	const record = expectRecord(value, name);
	const {id, type, blocks, columns, ...rest} = record;
	if (typeof type !== 'string' || type === '') {
		throw new InputError(field(name, 'type'), 'a block type such as `"TextBlock"`', type);
	}

	let blockId: string;
	if (id === undefined) {
		blockId = random.uuid();
	} else {
		blockId = expectUuid(id, field(name, 'id'));
		if (usedIds.has(blockId)) {
			throw new InputError(field(name, 'id'), 'a block id not used elsewhere in the object', id);
		}
	}

	usedIds.add(blockId);
	const block: LwwBlock = {id: blockId, type, ...(structuredClone(rest) as Record<string, unknown>)};
	if (blocks !== undefined || containerTypes.has(type)) {
		block.blocks = parseBlocks(blocks ?? [], field(name, 'blocks'), random, usedIds);
	}

	if (columns !== undefined || type === 'GridBlock') {
		const columnsName = field(name, 'columns');
		if (!Array.isArray(columns ?? [])) {
			throw new InputError(columnsName, 'an array of block arrays', columns);
		}

		block.columns = ((columns ?? []) as unknown[]).map((column, index) =>
			parseBlocks(column, field(columnsName, index), random, usedIds),
		);
	}

	return block;
}

/** `{propId: Block[]}`. */
export function parseBlockMap(
	value: unknown,
	name: string,
	random: Random,
	usedIds: Set<string>,
): Record<string, LwwBlock[]> {
	const record = expectRecord(value, name);
	const map: Record<string, LwwBlock[]> = {};
	for (const [propertyId, blocks] of Object.entries(record)) {
		map[propertyId] = parseBlocks(blocks, field(name, propertyId), random, usedIds);
	}

	return map;
}
