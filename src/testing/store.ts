import {blockIds, blockText} from './blocks.js';
import {
	expectRecord,
	expectString,
	expectTimestamp,
	expectUuid,
	field,
	mergeTitle,
	parseBlockMap,
	parseCollections,
	parseProperties,
} from './input.js';
import type {Random} from './random.js';
import {InputError} from './reply.js';
import type {LwwObject, LwwPropertyValue} from './types.js';

/** A stored object and its version, which every write-back increments (the ETag / `version` of the modes). */
export type StoredEntry = {
	readonly object: LwwObject;
	readonly version: number;
};

/** `GET /space/structures` entry. */
export type Structure = {
	readonly id: string;
	readonly title: string;
	readonly pluralName: string;
	readonly labelColor: string;
	readonly propertyDefinitions: ReadonlyArray<{
		readonly id: string;
		readonly name: string;
		readonly type: string;
		readonly writable: boolean;
	}>;
	readonly collections: readonly string[];
};

/** Summary used by `GET /objects` and `POST /objects/search`. */
export type ObjectSummary = {
	readonly id: string;
	readonly structureId: string;
	readonly title: string;
	readonly lastUpdated: string;
};

const builtInStructures: readonly Structure[] = [
	{
		id: 'RootPage',
		title: 'Page',
		pluralName: 'Pages',
		labelColor: 'gray',
		propertyDefinitions: [
			{id: 'title', name: 'Title', type: 'title', writable: true},
			{id: 'counter', name: 'Counter', type: 'number', writable: true},
			{id: 'description', name: 'Description', type: 'text', writable: true},
			{id: 'content', name: 'Content', type: 'blocks', writable: true},
		],
		collections: [],
	},
	{
		id: 'RootTag',
		title: 'Tag',
		pluralName: 'Tags',
		labelColor: 'gray',
		propertyDefinitions: [{id: 'title', name: 'Title', type: 'title', writable: true}],
		collections: [],
	},
];

/** The title string of a `title` property, if there is one. */
function titleOf(properties: Record<string, LwwPropertyValue>): string | undefined {
	const payload = properties.title?.title;
	if (typeof payload === 'object' && payload !== null && typeof (payload as {value?: unknown}).value === 'string') {
		return (payload as {value: string}).value;
	}

	return undefined;
}

/** Keeps the convenience `title` in step with `properties.title`. */
export function syncTitle(object: LwwObject): LwwObject {
	const title = titleOf(object.properties);
	if (title === undefined) {
		delete object.title;
	} else {
		object.title = title;
	}

	return object;
}

/**
Validates a whole object body (`POST /object`, `PUT /object`, the `objects` option); `id` and the
timestamps are the caller's business. `structureId` is `undefined` when the body has none.
*/
export function parseObjectBody(
	value: unknown,
	name: string,
	random: Random,
): Pick<LwwObject, 'properties' | 'collections' | 'blocks'> & {readonly structureId: string | undefined} {
	const body = expectRecord(value, name);
	let structureId: string | undefined;
	if (body.structureId !== undefined) {
		structureId = expectString(body.structureId, field(name, 'structureId'));
		if (structureId === '') {
			throw new InputError(field(name, 'structureId'), 'a non-empty string', structureId);
		}
	}

	const properties = mergeTitle(
		body.title,
		body.properties === undefined ? {} : parseProperties(body.properties, field(name, 'properties')),
		name,
	);
	const collections =
		body.collections === undefined ? [] : parseCollections(body.collections, field(name, 'collections'));
	const blocks =
		body.blocks === undefined ? {} : parseBlockMap(body.blocks, field(name, 'blocks'), random, new Set());
	return {structureId, properties, collections, blocks};
}

export class ObjectStore {
	readonly #entries = new Map<string, StoredEntry>();
	// Versions of deleted objects: a write racing a delete may store the object again, and its version
	// must go on from where it was, never back to a number a client saw for older content.
	readonly #deletedVersions = new Map<string, number>();
	readonly #random: Random;
	readonly #seededStructures = new Set<string>();

	constructor(random: Random) {
		this.#random = random;
	}

	/** Creates `count` pages with a `counter` property and a small block tree. */
	seedCount(count: number, now: string): void {
		for (let index = 0; index < count; index++) {
			const uuid = this.#random.uuid;
			const text = (value: string) => ({
				id: uuid(),
				type: 'TextBlock',
				tokens: [{type: 'TextToken', text: value, style: {}}],
				blocks: [],
				hierarchy: {key: 'Base', val: 0},
			});
			const object: LwwObject = {
				id: uuid(),
				structureId: 'RootPage',
				properties: {
					title: {type: 'title', title: {value: `Object ${index + 1}`}},
					counter: {type: 'number', number: 0},
				},
				collections: [],
				blocks: {
					content: [
						text('First paragraph'),
						{id: uuid(), type: 'GroupBlock', blocks: [text('Nested item')]},
						{id: uuid(), type: 'GridBlock', columns: [[text('Left column')], [text('Right column')]]},
					],
				},
				createdAt: now,
				lastUpdated: now,
			};
			this.#entries.set(object.id, {object: syncTitle(object), version: 1});
		}
	}

	/** Stores the `objects` option; throws `InputError`s naming `objects[i]…`. */
	seedObjects(inits: readonly unknown[], now: string): void {
		for (const [index, init] of inits.entries()) {
			const name = `objects[${index}]`;
			const record = expectRecord(init, name);
			const id = record.id === undefined ? this.#random.uuid() : expectUuid(record.id, `${name}.id`);
			if (this.#entries.has(id)) {
				throw new InputError(`${name}.id`, 'a UUID no other object has', record.id);
			}

			const {structureId = 'RootPage', ...body} = parseObjectBody(record, name, this.#random);
			const createdAt = record.createdAt === undefined ? now : expectTimestamp(record.createdAt, `${name}.createdAt`);
			const lastUpdated =
				record.lastUpdated === undefined ? createdAt : expectTimestamp(record.lastUpdated, `${name}.lastUpdated`);
			this.#seededStructures.add(structureId);
			this.#entries.set(id, {object: syncTitle({id, structureId, ...body, createdAt, lastUpdated}), version: 1});
		}
	}

	structures(): Structure[] {
		const structures = [...builtInStructures];
		const known = new Set(structures.map(structure => structure.id));
		for (const id of this.#seededStructures) {
			if (!known.has(id)) {
				structures.push({id, title: id, pluralName: id, labelColor: 'gray', propertyDefinitions: [], collections: []});
			}
		}

		return structuredClone(structures);
	}

	hasStructure(id: string): boolean {
		return builtInStructures.some(structure => structure.id === id) || this.#seededStructures.has(id);
	}

	ids(): string[] {
		return [...this.#entries.keys()];
	}

	/** A deep copy of the stored object: what a handler reads before it waits. */
	read(id: string): LwwObject | undefined {
		const entry = this.#entries.get(id);
		return entry ? structuredClone(entry.object) : undefined;
	}

	version(id: string): number | undefined {
		return this.#entries.get(id)?.version;
	}

	/** The write-back: the whole object replaces whatever is stored now, one version later. */
	write(object: LwwObject): StoredEntry {
		const {id} = object;
		const previous = this.#entries.get(id)?.version ?? this.#deletedVersions.get(id) ?? 0;
		this.#deletedVersions.delete(id);
		const entry = {object: syncTitle(structuredClone(object)), version: previous + 1};
		this.#entries.set(id, entry);
		return entry;
	}

	delete(id: string): boolean {
		const entry = this.#entries.get(id);
		if (!entry) {
			return false;
		}

		this.#deletedVersions.set(id, entry.version);
		return this.#entries.delete(id);
	}

	/** The object whose block tree holds `blockId`. */
	ownerOfBlock(blockId: string): string | undefined {
		for (const [id, {object}] of this.#entries) {
			if (blockIds(object).has(blockId)) {
				return id;
			}
		}

		return undefined;
	}

	summaries(): ObjectSummary[] {
		return [...this.#entries.values()].map(({object}) => ({
			id: object.id,
			structureId: object.structureId,
			title: object.title ?? '',
			lastUpdated: object.lastUpdated,
		}));
	}

	/** Case-insensitive substring search over titles, text-like properties and block text. */
	search(query: string): ObjectSummary[] {
		const needle = query.toLowerCase();
		const matches = new Set<string>();
		for (const {object} of this.#entries.values()) {
			const haystack = [
				object.title ?? '',
				...Object.values(object.properties).map(property =>
					typeof property[property.type] === 'string' ? (property[property.type] as string) : '',
				),
				...Object.values(object.blocks).map(blocks => blockText(blocks)),
			]
				.join('\n')
				.toLowerCase();
			if (haystack.includes(needle)) {
				matches.add(object.id);
			}
		}

		return this.summaries().filter(summary => matches.has(summary.id));
	}
}
