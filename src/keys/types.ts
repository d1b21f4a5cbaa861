/**
What a key rule sees of a request. The URL is already normalized (see `normalizeUrl()`), the method
is upper-case, and `body` is the parsed JSON body when the request has one and the rule asked for it
(`readsBody`), otherwise `undefined`.
*/
export type LaneRequest = {
	readonly method: string;
	readonly url: URL;
	readonly headers: Headers;
	readonly body: unknown;
};

/** Whether an operation only reads its resources or changes them. */
export type OperationKind = 'read' | 'write';

/** One lane key (`objects/9f2c`) or several; an operation holding several takes all or none. */
export type LaneKeys = string | readonly string[];

/**
What a rule decides for a request: its key(s), or `undefined` for none (the request is then only
subject to the global limiter), optionally with a kind that overrides the method's classification
(a `POST /search` is a read).
*/
export type KeyDecision =
	| LaneKeys
	| undefined
	| {
			readonly keys?: LaneKeys | undefined;
			readonly kind?: OperationKind | undefined;
	  };

/** A function from a request to its lane key(s). */
export type KeyRule = (request: LaneRequest) => KeyDecision;

/**
A URL pattern. As a string, `'/objects/:id/**'` matches `/objects/9f2c` and everything below it and
keys the request to `objects/9f2c` (the pattern up to its wildcard, with parameters filled in). As an
object it can name the key template, restrict methods and set the kind.
*/
export type KeyPattern =
	| string
	| {
			/** Path pattern: literal segments, `:name` parameters, `*` (one segment), `**` (any rest, last only). */
			readonly pattern: string;
			/** Key template with `:name` parameters, e.g. `'objects/:id'`. `false` = the request takes no lane. Default: the pattern up to its first wildcard. */
			readonly key?: string | false;
			/** Methods this entry applies to (any case). Default: all. */
			readonly methods?: readonly string[];
			/** Overrides the method's classification. */
			readonly kind?: OperationKind;
	  };

/**
A named bundle of a key rule and what it needs, for one API. `Body` is the shape of the API's
resources as read (what `versioning.read` gets).
*/
export type Preset<Body = unknown> = {
	readonly name: string;
	readonly rule: KeyRule;
	/** The rule looks at the parsed JSON body, so adapters parse it (from a clone) before sending. */
	readonly readsBody?: boolean;
	/**
	Sees every response to a request the rule keyed (e.g. to learn which object owns which block).
	Must not consume `response`'s body: clone it.
	*/
	readonly observe?: (request: LaneRequest, response: Response) => void | Promise<void>;
	/**
	Learns from the JSON body of responses (e.g. which object owns which block) without reading it
	twice: for a response `when` accepts, `body` gets the value the caller parses with
	`response.json()` (or `text()`), so nothing is cloned or parsed ahead of the caller, and a body
	the caller never reads teaches nothing. Cheaper than `observe` for bodies.
	*/
	readonly learn?: PresetLearn;
	/**
	How the API carries a resource's version, so `update()` can send a precondition and detect a
	stale write: `{type: 'etag'}` (the read's `ETag` goes back as `If-Match`), or `{type: 'field'}`
	with functions reading the version from a resource and putting it into a write body.
	Without it `update()` still uses an `ETag` when the read returns one.
	*/
	readonly versioning?: Versioning<Body>;
	/**
	Whether an answer to a write is a conflict (a stale version) worth re-reading and re-applying.
	412 always is; without this, so are 409 and a 400 whose `errors[].code` is `VERSION_MISMATCH`.
	With it, this decides for everything but 412. `body` is the parsed JSON body, when there is one.
	*/
	readonly isConflict?: (status: number, body: unknown) => boolean;
	/**
	Where the resource a write changes is read: a `GET` of that URL answers its current state and
	version. `uncertain: 'verify'` re-reads it after a write whose outcome is unknown. `undefined` (or
	no hook): the write's own URL, which fits APIs that read and write a resource at one URL.
	@example
	```
	// Capacities writes `PATCH /object` with the id in the body, and reads `GET /object?id=…`.
	readUrl: request => `${request.url.origin}/object?id=${(request.body as {id: string}).id}`
	```
	*/
	readonly readUrl?: (request: LaneRequest) => string | URL | undefined;
	/**
	The rate-limit bucket of a request, for pacing by the server's `RateLimit` headers (APIs that count
	per endpoint, like Capacities, name one bucket per endpoint). Default: one bucket per origin.
	*/
	readonly bucket?: (request: LaneRequest) => string;
	/** The global rate limit used when the caller sets none (from the API's published limits). */
	readonly rateLimit?: {readonly limit: number; readonly interval: number};
	/** Where an idempotency key goes when `idempotencyKeys` is on: a header, or a JSON body field. */
	readonly idempotency?: {readonly header: string} | {readonly bodyField: string};
};

/**
A resource's version carrier; see `Preset.versioning`. `Body` is the resource as read, so a preset
for one API types its functions by that API's shape:

```
const accounts: Preset<Account> = {
	...etag(),
	versioning: {type: 'field', read: account => account.version, write: (body, version) => ({...body, version})},
};
```
*/
export type Versioning<Body = unknown> =
	| {readonly type: 'etag'}
	| {
			readonly type: 'field';
			/** The version of a resource as read (the parsed JSON of the read); `undefined` when it has none. */
			read(resource: Body): string | number | undefined;
			/** The write body carrying `version` as its precondition (a new object; don't change `body`). */
			write(body: Body, version: string | number): unknown;
	  };

/** The `keys` option: a rule function, a pattern list, or a preset. */
export type KeysOption = KeyRule | readonly KeyPattern[] | Preset;

/** See `Preset.learn`. */
export type PresetLearn = {
	/** Whether the response to `request` teaches something (checked before anything is read). */
	readonly when: (request: LaneRequest, response: Response) => boolean;
	/** Takes what the caller parsed from the response body. */
	readonly body: (request: LaneRequest, body: unknown) => void;
};

/** A compiled rule, as the adapters use it. */
export type CompiledKeys = {
	/** Returns the canonical keys (possibly empty) and the kind of the request. */
	readonly resolve: (request: LaneRequest) => {readonly keys: readonly string[]; readonly kind: OperationKind};
	readonly readsBody: boolean;
	readonly observe: Preset['observe'] | undefined;
	/** The preset, when the option was one. */
	readonly preset: Preset | undefined;
	/**
	Every hook that sees a request (the rule, and the preset's `observe`, `learn`, `readUrl` and
	`bucket`) is writelane's own: the default rule, a pattern list, or a built-in preset as its factory
	made it. The request may then be one whose `url` and `headers` are not own properties.
	*/
	readonly builtIn: boolean;
};
