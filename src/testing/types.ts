import type {FaultName} from './faults.js';

/**
A property value in the Capacities form: a `type` plus a payload under the key of the same name,
e.g. `{type: 'number', number: 3}` or `{type: 'title', title: {value: 'My page'}}`.
*/
export type LwwPropertyValue = {
	readonly type: string;
	readonly [payload: string]: unknown;
};

/**
A block as stored and returned. `TextBlock` and `GroupBlock` nest child `blocks`; a `GridBlock` holds
`columns`, an array of block arrays. Other types (`CodeBlock`, `MathBlock`, `EntityBlock`,
`HorizontalLineBlock` …) carry their own fields and no children.
*/
export type LwwBlock = {
	id: string;
	type: string;
	blocks?: LwwBlock[];
	columns?: LwwBlock[][];
	[field: string]: unknown;
};

/** A block as a client sends it: the server assigns an id when there is none. */
export type LwwBlockInit = {
	readonly id?: string;
	readonly type: string;
	readonly blocks?: readonly LwwBlockInit[];
	readonly columns?: ReadonlyArray<readonly LwwBlockInit[]>;
	readonly [field: string]: unknown;
};

/**
An object (page, tag, custom type …) as stored and returned by `GET /object`. `title` mirrors
`properties.title` for convenience.
*/
export type LwwObject = {
	id: string;
	structureId: string;
	title?: string;
	properties: Record<string, LwwPropertyValue>;
	collections: string[];
	blocks: Record<string, LwwBlock[]>;
	createdAt: string;
	lastUpdated: string;
};

/** An object to seed the space with (the `objects` option). Missing ids are generated. */
export type LwwObjectInit = {
	/** A UUID. @default generated from the seeded PRNG */
	readonly id?: string;
	/** @default 'RootPage' */
	readonly structureId?: string;
	/** Shorthand for `properties.title`. */
	readonly title?: string;
	readonly properties?: Readonly<Record<string, LwwPropertyValue>>;
	/** Collection UUIDs. */
	readonly collections?: readonly string[];
	/** Block trees by property id, e.g. `{content: [{type: 'TextBlock', tokens: []}]}`. */
	readonly blocks?: Readonly<Record<string, readonly LwwBlockInit[]>>;
	/** ISO 8601. @default now */
	readonly createdAt?: string;
	/** ISO 8601. @default `createdAt` */
	readonly lastUpdated?: string;
};

/** Whether a request only reads or changes the space. */
export type LwwRequestKind = 'read' | 'write';

/** One finished request, as the auditor saw it. */
export type LwwLogEntry = {
	readonly method: string;
	/** Path without the query string, e.g. `/object`. */
	readonly path: string;
	/** The object whose tree the request touched (for block operations: the owning object). */
	readonly objectId?: string;
	readonly kind: LwwRequestKind;
	/** Milliseconds since the server started (`performance.now()` clock) when the request arrived. */
	readonly start: number;
	/** Milliseconds since the server started when the response was sent or the socket destroyed. */
	readonly end: number;
	/** HTTP status; `0` when no response was sent (a `reset-*` fault, or the server closed). */
	readonly status: number;
};

/** One finished mutation of an object tree. */
export type LwwWrite = {
	readonly method: string;
	readonly path: string;
	readonly start: number;
	readonly end: number;
	readonly status: number;
};

/** What `server.report()` returns: counters since the start or the last `reset()`. */
export type LwwReport = {
	/** Requests received by method (`{GET: 12, PATCH: 4}`), including rejected ones. */
	readonly requests: Readonly<Record<string, number>>;
	readonly total: number;
	/**
	Mutations that arrived while another mutation of the same object tree was in flight: each one is a
	potential lost update. `0` when writes were serialized per object.
	*/
	readonly overlaps: number;
	/** `overlaps` by object id; objects without overlaps are absent. */
	readonly overlapsByObject: Readonly<Record<string, number>>;
	/**
	Writes refused by their precondition: a stale If-Match or matching If-None-Match (`'etag'` mode,
	412 `precondition_failed`) or a stale `version` (`'version'` mode, 400 `VERSION_MISMATCH`).
	Always `0` in `'lww'`.
	*/
	readonly conflicts: number;
	/**
	Faults injected by kind (`{'503': 2, 'reset-after': 1, slow: 4}`; `{retryAfter}` counts as `'429'`),
	random and scripted ones alike. Kinds never injected are absent.
	*/
	readonly faults: Readonly<Partial<Record<FaultName, number>>>;
	/** The largest number of mutations of one object tree in flight at once, by object id. */
	readonly maxInFlightByObject: Readonly<Record<string, number>>;
	/** Finished mutations by object id, in the order they finished. */
	readonly writes: Readonly<Record<string, readonly LwwWrite[]>>;
	/** Every finished request, in the order they finished. */
	readonly log: readonly LwwLogEntry[];
};
