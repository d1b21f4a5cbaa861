import type {IncomingHttpHeaders} from 'node:http';
import {
	type AppendTarget,
	appendBlocks,
	blockIds,
	deleteBlock,
	findBlock,
	mainPropertyId,
	replaceBlock,
	subtreeIds,
} from './blocks.js';
import {
	expectRecord,
	expectString,
	expectUuid,
	isRecord,
	mergeTitle,
	parseBlock,
	parseBlockMap,
	parseBlocks,
	parseCollections,
	parseProperties,
} from './input.js';
import {blocksToMarkdown, markdownToBlocks} from './markdown.js';
import type {ModeStrategy} from './modes.js';
import type {Random} from './random.js';
import {InputError, notFound, type Reply} from './reply.js';
import {type ObjectStore, parseObjectBody} from './store.js';
import type {LwwBlock, LwwObject} from './types.js';

/** A request as the routes see it: the body is parsed JSON (or `undefined` when empty). */
export type RequestContext = {
	readonly method: string;
	readonly path: string;
	readonly query: URLSearchParams;
	readonly body: unknown;
	readonly headers: IncomingHttpHeaders;
};

/** A read, answered after the wait from the data stored at that moment. */
export type ReadOperation = {
	readonly kind: 'read';
	readonly objectId?: string;
	readonly run: () => Reply;
};

/** What a write leaves behind: the object to write back (`null` deletes it) and the answer. */
export type WriteOutcome = {
	readonly object: LwwObject | null;
	readonly status?: number;
	readonly body: unknown;
};

/**
A mutation of one object tree. `apply` receives the deep copy read *before* the wait and returns the
whole object to write back: the lost-update way of a last-write-wins server.
*/
export type WriteOperation =
	| {readonly kind: 'write'; readonly objectId: string; readonly apply: (current: LwwObject) => WriteOutcome}
	| {readonly kind: 'write'; readonly objectId: string; readonly create: () => WriteOutcome};

export type Operation = ReadOperation | WriteOperation;

/** Validates the request and describes what to do; throws `ReplyError`s for bad input. */
export type Route = (context: RequestContext) => Operation;

export type RouteDependencies = {
	readonly store: ObjectStore;
	readonly random: Random;
	readonly mode: ModeStrategy;
	readonly space: {readonly id: string; readonly title: string};
};

function body(context: RequestContext): Record<string, unknown> {
	return expectRecord(context.body, 'body');
}

/** An id from the query string, else from the JSON body (DELETE routes accept both). */
function idParameter(context: RequestContext, name: string): unknown {
	const fromQuery = context.query.get(name);
	if (fromQuery !== null) {
		return fromQuery;
	}

	return isRecord(context.body) ? context.body[name] : undefined;
}

function optionalString(value: unknown, name: string): string | undefined {
	return value === undefined ? undefined : expectString(value, name);
}

function parseTarget(record: Record<string, unknown>): AppendTarget {
	const propertyId = optionalString(record.propertyId, 'propertyId');
	const parentBlockId = record.parentBlockId === undefined ? undefined : expectUuid(record.parentBlockId, 'parentBlockId');
	const raw = record.position;
	if (raw === undefined) {
		return {propertyId, parentBlockId, position: {type: 'end'}};
	}

	const position = expectRecord(raw, 'position');
	if (position.type === 'end' || position.type === 'start') {
		return {propertyId, parentBlockId, position: {type: position.type}};
	}

	if (position.type !== 'after_block') {
		throw new InputError('position.type', "`'end'`, `'start'` or `'after_block'`", position.type);
	}

	if (parentBlockId !== undefined) {
		throw new InputError('parentBlockId', "absent when `position.type` is `'after_block'`", parentBlockId);
	}

	return {propertyId, parentBlockId, position: {type: 'after_block', blockId: expectUuid(position.blockId, 'position.blockId')}};
}

function requireStructure(store: ObjectStore, structureId: string | undefined, required: boolean): void {
	if (structureId === undefined ? required : !store.hasStructure(structureId)) {
		const known = store.structures().map(structure => structure.id);
		throw new InputError('structureId', `one of the space's structures (${known.join(', ')})`, structureId);
	}
}

export function createRoutes({store, random, mode, space}: RouteDependencies): ReadonlyMap<string, Route> {
	const readObject = (id: string): {object: LwwObject; version: number} => {
		const object = store.read(id);
		if (!object) {
			throw notFound(`Object ${id} not found`);
		}

		return {object, version: store.version(id) ?? 0};
	};

	/** An answer about an object (`render` picks the representation), versioned the way the mode says. */
	const objectReply = (context: RequestContext, id: string, render: (object: LwwObject) => unknown): Reply => {
		const {object, version} = readObject(id);
		return (
			mode.checkRead(context.headers, version) ?? {
				status: 200,
				body: mode.present(render(object), version),
				headers: mode.versionHeaders(version),
			}
		);
	};

	/** A block operation's object: named in the body (an extension) or found by the block id. */
	const ownerOf = (blockId: string, named: unknown): string => {
		if (named !== undefined) {
			return expectUuid(named, 'id');
		}

		const owner = store.ownerOfBlock(blockId);
		if (owner === undefined) {
			throw notFound(`Block ${blockId} not found`);
		}

		return owner;
	};

	const appendRoute =
		(blocksOf: (record: Record<string, unknown>) => unknown, blocksName: string): Route =>
		context => {
			const record = body(context);
			const id = expectUuid(record.id, 'id');
			const target = parseTarget(record);
			// Validate the shape now; ids are assigned against the object's tree when applied.
			parseBlocks(blocksOf(record), blocksName, random, new Set());
			return {
				kind: 'write',
				objectId: id,
				apply(current) {
					const blocks = parseBlocks(blocksOf(record), blocksName, random, blockIds(current));
					appendBlocks(current, blocks, target);
					return {object: current, body: {id, blocks}};
				},
			};
		};

	const routes: Array<[string, Route]> = [
		['GET /space', () => ({kind: 'read', run: () => ({status: 200, body: {...space}})})],
		['GET /space/structures', () => ({kind: 'read', run: () => ({status: 200, body: {structures: store.structures()}})})],
		[
			'GET /object',
			context => {
				const id = expectUuid(context.query.get('id') ?? undefined, 'id');
				return {kind: 'read', objectId: id, run: () => objectReply(context, id, object => object)};
			},
		],
		[
			'POST /object',
			context => {
				const {structureId, ...rest} = parseObjectBody(body(context), '', random);
				requireStructure(store, structureId, true);
				const id = random.uuid();
				return {
					kind: 'write',
					objectId: id,
					create() {
						const now = new Date().toISOString();
						const object: LwwObject = {id, structureId: structureId!, ...rest, createdAt: now, lastUpdated: now};
						return {object, status: 201, body: object};
					},
				};
			},
		],
		[
			'PATCH /object',
			context => {
				const record = body(context);
				const id = expectUuid(record.id, 'id');
				const properties = mergeTitle(
					record.title,
					record.properties === undefined ? {} : parseProperties(record.properties, 'properties'),
					'',
				);
				const collections =
					record.collections === undefined ? undefined : parseCollections(record.collections, 'collections');
				return {
					kind: 'write',
					objectId: id,
					apply(current) {
						// Merge at property level: each named property is replaced whole.
						current.properties = {...current.properties, ...structuredClone(properties)};
						if (collections) {
							current.collections = [...collections];
						}

						return {object: current, body: current};
					},
				};
			},
		],
		[
			'PUT /object',
			context => {
				const record = body(context);
				const id = expectUuid(record.id, 'id');
				const replacement = parseObjectBody(record, '', random);
				requireStructure(store, replacement.structureId, false);
				return {
					kind: 'write',
					objectId: id,
					apply(current) {
						const object: LwwObject = {
							id,
							structureId: replacement.structureId ?? current.structureId,
							properties: structuredClone(replacement.properties),
							collections: [...replacement.collections],
							blocks: structuredClone(replacement.blocks),
							createdAt: current.createdAt,
							lastUpdated: current.lastUpdated,
						};
						return {object, body: object};
					},
				};
			},
		],
		[
			'DELETE /object',
			context => {
				const id = expectUuid(idParameter(context, 'id'), 'id');
				return {kind: 'write', objectId: id, apply: () => ({object: null, body: {id}})};
			},
		],
		[
			'GET /object/markdown',
			context => {
				const id = expectUuid(context.query.get('id') ?? undefined, 'id');
				return {
					kind: 'read',
					objectId: id,
					run: () =>
						objectReply(context, id, object => ({id, markdown: blocksToMarkdown(object.blocks[mainPropertyId(object)] ?? [])})),
				};
			},
		],
		[
			'PATCH /object/markdown',
			context => {
				const record = body(context);
				const id = expectUuid(record.id, 'id');
				const markdown = expectString(record.markdown, 'markdown');
				const propertyId = optionalString(record.propertyId, 'propertyId');
				return {
					kind: 'write',
					objectId: id,
					apply(current) {
						const blocks = parseBlocks(markdownToBlocks(markdown), 'markdown', random, blockIds(current));
						current.blocks[propertyId ?? mainPropertyId(current)] = blocks;
						return {object: current, body: current};
					},
				};
			},
		],
		['POST /blocks/append', appendRoute(record => record.blocks, 'blocks')],
		[
			'POST /blocks/markdown/append',
			appendRoute(record => markdownToBlocks(expectString(record.markdown, 'markdown')), 'markdown'),
		],
		[
			'PATCH /blocks/block',
			context => {
				const record = body(context);
				const block = expectRecord(record.block, 'block');
				const blockId = expectUuid(record.blockId ?? block.id, record.blockId === undefined ? 'block.id' : 'blockId');
				const {id: _ignored, ...content} = block;
				parseBlock(content, 'block', random, new Set());
				const id = ownerOf(blockId, record.id);
				return {
					kind: 'write',
					objectId: id,
					apply(current) {
						const location = findBlock(current, blockId);
						if (!location) {
							throw notFound(`Block ${blockId} not found in object ${id}`);
						}

						// The replaced subtree's ids are free again; the block keeps its own id.
						const used = blockIds(current);
						for (const old of subtreeIds(location.block)) {
							used.delete(old);
						}

						const replacement: LwwBlock = replaceBlock(current, blockId, parseBlock(content, 'block', random, used));
						return {object: current, body: {id, block: replacement}};
					},
				};
			},
		],
		[
			'DELETE /blocks/block',
			context => {
				const blockId = expectUuid(idParameter(context, 'blockId'), 'blockId');
				const id = ownerOf(blockId, idParameter(context, 'id'));
				return {
					kind: 'write',
					objectId: id,
					apply(current) {
						deleteBlock(current, blockId);
						return {object: current, body: {id, blockId}};
					},
				};
			},
		],
		[
			'PUT /object/blocks',
			context => {
				const record = body(context);
				const id = expectUuid(record.id, 'id');
				const propertyId = optionalString(record.propertyId, 'propertyId');
				const {blocks} = record;
				if (Array.isArray(blocks)) {
					parseBlocks(blocks, 'blocks', random, new Set());
				} else if (propertyId === undefined) {
					parseBlockMap(blocks, 'blocks', random, new Set());
				} else {
					throw new InputError('blocks', 'an array of blocks when `propertyId` is given', blocks);
				}

				return {
					kind: 'write',
					objectId: id,
					apply(current) {
						if (Array.isArray(blocks)) {
							const property = propertyId ?? mainPropertyId(current);
							const used = blockIds({...current, blocks: {...current.blocks, [property]: []}});
							current.blocks[property] = parseBlocks(blocks, 'blocks', random, used);
						} else {
							current.blocks = parseBlockMap(blocks, 'blocks', random, new Set());
						}

						return {object: current, body: current};
					},
				};
			},
		],
		[
			'POST /objects/search',
			context => {
				const query = expectString(body(context).query, 'query');
				return {kind: 'read', run: () => ({status: 200, body: {results: store.search(query)}})};
			},
		],
		['GET /objects', () => ({kind: 'read', run: () => ({status: 200, body: {objects: store.summaries()}})})],
	];

	return new Map(routes);
}
