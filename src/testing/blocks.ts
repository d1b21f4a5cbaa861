import {containerTypes} from './input.js';
import {InputError, notFound} from './reply.js';
import type {LwwBlock, LwwObject} from './types.js';

/** Where a block sits: the list holding it, its index there, and the block property it belongs to. */
export type BlockLocation = {
	readonly list: LwwBlock[];
	readonly index: number;
	readonly block: LwwBlock;
	readonly propertyId: string;
};

/** Where appended blocks go, in the request's terms. */
export type AppendTarget = {
	readonly propertyId: string | undefined;
	readonly parentBlockId: string | undefined;
	readonly position: {readonly type: 'end' | 'start'} | {readonly type: 'after_block'; readonly blockId: string};
};

/** The child lists of a block: nested `blocks` and every `GridBlock` column. */
function childLists(block: LwwBlock): LwwBlock[][] {
	const lists: LwwBlock[][] = [];
	if (block.blocks) {
		lists.push(block.blocks);
	}

	if (block.columns) {
		lists.push(...block.columns);
	}

	return lists;
}

function* locations(list: LwwBlock[], propertyId: string): Generator<BlockLocation> {
	for (const [index, block] of list.entries()) {
		yield {list, index, block, propertyId};
		for (const child of childLists(block)) {
			yield* locations(child, propertyId);
		}
	}
}

function* allLocations(object: LwwObject): Generator<BlockLocation> {
	for (const [propertyId, list] of Object.entries(object.blocks)) {
		yield* locations(list, propertyId);
	}
}

export function findBlock(object: LwwObject, blockId: string): BlockLocation | undefined {
	for (const location of allLocations(object)) {
		if (location.block.id === blockId) {
			return location;
		}
	}

	return undefined;
}

/** Ids of a block and everything below it. */
export function subtreeIds(block: LwwBlock): Set<string> {
	const ids = new Set<string>();
	for (const location of locations([block], '')) {
		ids.add(location.block.id);
	}

	return ids;
}

export function blockIds(object: LwwObject): Set<string> {
	const ids = new Set<string>();
	for (const {block} of allLocations(object)) {
		ids.add(block.id);
	}

	return ids;
}

/** The property appends go to when the request names none: the object's first block property. */
export function mainPropertyId(object: LwwObject): string {
	return Object.keys(object.blocks)[0] ?? 'content';
}

function requireBlock(object: LwwObject, blockId: string): BlockLocation {
	const location = findBlock(object, blockId);
	if (!location) {
		throw notFound(`Block ${blockId} not found in object ${object.id}`);
	}

	return location;
}

/** Inserts already-validated blocks into `object` (mutates it). */
export function appendBlocks(object: LwwObject, blocks: readonly LwwBlock[], target: AppendTarget): void {
	const {position} = target;
	if (position.type === 'after_block') {
		const anchor = requireBlock(object, position.blockId);
		if (target.propertyId !== undefined && target.propertyId !== anchor.propertyId) {
			throw new InputError('propertyId', `the property holding block ${position.blockId}`, target.propertyId);
		}

		anchor.list.splice(anchor.index + 1, 0, ...blocks);
		return;
	}

	let list: LwwBlock[];
	if (target.parentBlockId === undefined) {
		const propertyId = target.propertyId ?? mainPropertyId(object);
		list = object.blocks[propertyId] ??= [];
	} else {
		const parent = requireBlock(object, target.parentBlockId);
		if (!containerTypes.has(parent.block.type)) {
			throw new InputError('parentBlockId', 'the id of a TextBlock or GroupBlock', target.parentBlockId);
		}

		if (target.propertyId !== undefined && target.propertyId !== parent.propertyId) {
			throw new InputError('propertyId', `the property holding block ${target.parentBlockId}`, target.propertyId);
		}

		list = parent.block.blocks ??= [];
	}

	if (position.type === 'start') {
		list.unshift(...blocks);
	} else {
		list.push(...blocks);
	}
}

/** Replaces one block in place; the stored id wins over any id in `replacement`. */
export function replaceBlock(object: LwwObject, blockId: string, replacement: LwwBlock): LwwBlock {
	const location = requireBlock(object, blockId);
	const block = {...replacement, id: location.block.id};
	location.list[location.index] = block;
	return block;
}

export function deleteBlock(object: LwwObject, blockId: string): void {
	const location = requireBlock(object, blockId);
	location.list.splice(location.index, 1);
}

/** Plain text of a block tree, for search. */
export function blockText(blocks: readonly LwwBlock[]): string {
	const parts: string[] = [];
	for (const block of blocks) {
		if (Array.isArray(block.tokens)) {
			for (const token of block.tokens as unknown[]) {
				if (typeof token === 'object' && token !== null && typeof (token as {text?: unknown}).text === 'string') {
					parts.push((token as {text: string}).text);
				}
			}
		}

		if (typeof block.text === 'string') {
			parts.push(block.text);
		}

		for (const child of childLists(block)) {
			parts.push(blockText(child));
		}
	}

	return parts.join(' ');
}
