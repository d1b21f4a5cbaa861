// Type tests of the public API. The `expectTypeOf` assertions and `@ts-expect-error` lines are checked
// by `npm run typecheck` (tsc over test/, part of `npm test`): a wrong type fails the suite there. The
// runtime expectations beside them run under vitest, so each `@ts-expect-error` call is also shown
// to be refused at run time.
import ky, {type KyInstance} from 'ky';
import {expect, expectTypeOf, test} from 'vitest';
import {
	BackendError,
	ClosedError,
	type CloseOptions,
	ConflictError,
	createLanes,
	HttpError,
	isBackendError,
	isClosedError,
	isConflictError,
	isHttpError,
	isLaneTimeoutError,
	isQueueFullError,
	isUncertainOutcomeError,
	isWritelaneError,
	type KyInstanceLike,
	type LaneContext,
	type LaneEvent,
	type LaneKeys,
	type Lanes,
	type LanesOptions,
	type LaneStats,
	LaneTimeoutError,
	type Mutate,
	type OperationOptions,
	QueueFullError,
	type Reply,
	type RetryOptions,
	type Stats,
	UncertainOutcomeError,
	type UpdateOptions,
	type UpdateResult,
	WritelaneError,
	type WritelaneErrorOptions,
} from '../src/index.js';
import type {OperationKind as CoreOperationKind} from '../src/core/types.js';
import type {OperationKind} from '../src/keys/types.js';
import {wrapKy} from '../src/ky.js';
import {type LwwMode, type LwwReport, type LwwServer, type LwwServerOptions, startLwwServer} from '../src/testing/index.js';

test('createLanes() - options are optional and typed field by field; it returns Lanes', () => {
	expectTypeOf(createLanes).parameters.toEqualTypeOf<[options?: LanesOptions]>();
	expectTypeOf(createLanes).returns.toEqualTypeOf<Lanes>();
	// Every option is optional and readonly.
	expectTypeOf<LanesOptions>().toEqualTypeOf<Readonly<Partial<LanesOptions>>>();
	expectTypeOf<LanesOptions['reads']>().toEqualTypeOf<'parallel' | 'shared' | undefined>();
	expectTypeOf<LanesOptions['concurrency']>().toEqualTypeOf<number | undefined>();
	expectTypeOf<LanesOptions['queueTimeout']>().toEqualTypeOf<number | false | undefined>();
	expectTypeOf<LanesOptions['maxQueuePerKey']>().toEqualTypeOf<number | false | undefined>();
	expectTypeOf<LanesOptions['retry']>().toEqualTypeOf<RetryOptions | number | false | undefined>();
	expectTypeOf<LanesOptions['fetch']>().toEqualTypeOf<typeof globalThis.fetch | undefined>();
	expectTypeOf<LanesOptions['uncertain']>().toExtend<'settle' | 'verify' | 'fail' | {readonly policy?: 'settle' | 'verify' | 'fail' | undefined} | undefined>();

	const lanes = createLanes({reads: 'shared', concurrency: 4, rateLimit: {limit: 5, interval: 1000}, retry: 3, queueTimeout: false});
	expectTypeOf(lanes).toEqualTypeOf<Lanes>();

	// @ts-expect-error an unknown option name is a type error, as it is a TypeError at run time
	expect(() => createLanes({concurency: 2})).toThrow(TypeError);
	// @ts-expect-error `reads` is 'parallel' or 'shared'
	expect(() => createLanes({reads: 'exclusive'})).toThrow(TypeError);
	// @ts-expect-error "off" is `false`, and `true` is not a duration
	expect(() => createLanes({queueTimeout: true})).toThrow(TypeError);

	const options: LanesOptions = {concurrency: 2};
	// @ts-expect-error options are readonly: writelane never changes them, nor should callers expect to
	options.concurrency = 3;
});

test('lanes.fetch() and lanes.wrapFetch() - are fetch-compatible', () => {
	const lanes = createLanes();
	expectTypeOf(lanes.fetch).toEqualTypeOf<typeof globalThis.fetch>();
	expectTypeOf(lanes.wrapFetch).toBeCallableWith(fetch);
	expectTypeOf(lanes.wrapFetch).toBeCallableWith(async (input: RequestInfo | URL, init?: RequestInit) => new Response(String(input) + String(init?.method)));
	expectTypeOf(lanes.wrapFetch(fetch)).toEqualTypeOf<typeof globalThis.fetch>();
	expectTypeOf(lanes.fetch).parameters.toEqualTypeOf<Parameters<typeof globalThis.fetch>>();
	expectTypeOf(lanes.fetch).returns.resolves.toEqualTypeOf<Response>();
	// @ts-expect-error wrapFetch needs a function
	expect(() => lanes.wrapFetch('https://example.test')).toThrow(TypeError);
});

test('lanes.wrapKy() and writelane/ky wrapKy() - hand back the same ky type', () => {
	const lanes = createLanes();
	expectTypeOf<KyInstance>().toExtend<KyInstanceLike>();
	const api = lanes.wrapKy(ky);
	expectTypeOf(api).toEqualTypeOf<KyInstance>();
	expectTypeOf(api.extend({prefixUrl: 'https://example.test'})).toEqualTypeOf<KyInstance>();
	expectTypeOf(wrapKy(lanes, ky.create({}))).toEqualTypeOf<KyInstance>();
	expectTypeOf(wrapKy).parameters.toEqualTypeOf<[lanes: Lanes, ky: KyInstanceLike]>();
	expect(typeof api.get).toBe('function');
	// @ts-expect-error a fetch function is not a ky instance
	expectTypeOf(lanes.wrapKy).toBeCallableWith(fetch);
});

test('lanes.write() and lanes.read() - pass a LaneContext and resolve with what fn returns', async () => {
	const lanes = createLanes();
	expectTypeOf<LaneKeys>().toEqualTypeOf<string | readonly string[]>();
	expectTypeOf<OperationOptions>().toEqualTypeOf<{readonly signal?: AbortSignal | undefined}>();
	expectTypeOf<LaneContext>().toMatchObjectType<{
		readonly id: number;
		readonly keys: readonly string[];
		readonly kind: 'read' | 'write';
		readonly signal: AbortSignal | undefined;
		readonly fencingToken: number;
	}>();

	const written = lanes.write('objects/1', context => {
		expectTypeOf(context).toEqualTypeOf<LaneContext>();
		return context.fencingToken;
	});
	expectTypeOf(written).toEqualTypeOf<Promise<number>>();
	const read = lanes.read(['objects/1', 'objects/2'] as const, async () => 'text', {signal: AbortSignal.timeout(60_000)});
	expectTypeOf(read).toEqualTypeOf<Promise<string>>();
	expect(typeof (await written)).toBe('number');
	expect(await read).toBe('text');

	// @ts-expect-error keys are strings
	await expect(lanes.write(7, () => undefined)).rejects.toThrow(TypeError);
	// @ts-expect-error `fn` is required and must be a function
	await expect(Promise.resolve().then(() => lanes.read('objects/1', 'not a function'))).rejects.toThrow(TypeError);
	// @ts-expect-error the signal is an AbortSignal
	expectTypeOf(lanes.write).toBeCallableWith('objects/1', () => 1, {signal: true});
});

test('lanes.update() - mutate gets the read type and returns the written one (or undefined); the result carries both', () => {
	const lanes = createLanes();
	type Item = {readonly id: string; readonly count: number};
	type Patch = {readonly id: string; readonly properties: {readonly count: number}};

	const same = () => lanes.update<Item>('https://example.test/items/1', item => ({...item, count: item.count + 1}));
	expectTypeOf(same).returns.toEqualTypeOf<Promise<UpdateResult<Item>>>();
	const changed = () =>
		lanes.update<Item, Patch>('https://example.test/items/1', (item, context) => {
			expectTypeOf(context).toEqualTypeOf<{readonly signal: AbortSignal | undefined; readonly attempt: number}>();
			return item.count > 9 ? undefined : {id: item.id, properties: {count: item.count + 1}};
		}, {method: 'PATCH', writeUrl: new URL('https://example.test/items'), attempts: 3});
	expectTypeOf(changed).returns.toEqualTypeOf<Promise<UpdateResult<Item | Patch>>>();
	expectTypeOf<UpdateResult<Item>>().toMatchObjectType<{readonly value: Item; readonly written: boolean; readonly response: Response; readonly attempts: number}>();
	expectTypeOf<Mutate<Item>>().toEqualTypeOf<(current: Item, context: {readonly signal: AbortSignal | undefined; readonly attempt: number}) => Item | undefined | Promise<Item | undefined>>();
	expectTypeOf<UpdateOptions['method']>().toEqualTypeOf<'PATCH' | 'PUT' | 'POST' | undefined>();

	// @ts-expect-error mutate must return the declared write type
	expectTypeOf(lanes.update<Item>).toBeCallableWith('https://example.test/items/1', () => 'text');
	// @ts-expect-error GET is not a way to write
	expectTypeOf(lanes.update).toBeCallableWith('https://example.test/items/1', () => undefined, {method: 'GET'});
});

test('lanes.stats(), lanes.onIdle() and lanes.close() - snapshot, drain and shut down', async () => {
	const lanes = createLanes();
	expectTypeOf(lanes.stats).returns.toEqualTypeOf<Stats>();
	expectTypeOf<Stats>().toMatchObjectType<{readonly active: number; readonly queued: number; readonly waitingForSlot: number; readonly lanes: readonly LaneStats[]}>();
	expectTypeOf<LaneStats>().toMatchObjectType<{readonly key: string; readonly queued: number; readonly running: number; readonly waitMs: number; readonly heldMs: number}>();
	expectTypeOf(lanes.onIdle).toEqualTypeOf<(key?: string) => Promise<void>>();
	expectTypeOf(lanes.close).toEqualTypeOf<(options?: CloseOptions) => Promise<void>>();
	expectTypeOf<CloseOptions>().toEqualTypeOf<{readonly abort?: boolean}>();

	expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	await lanes.onIdle('objects/1');
	await lanes.close({abort: true});
	await expect(lanes.write('objects/1', () => 1)).rejects.toBeInstanceOf(ClosedError);
});

test('lanes.on() - each event type gives its own event shape; "*" gives the union; unsubscribing returns void', () => {
	const lanes = createLanes();
	const off = lanes.on('retry', event => {
		expectTypeOf(event.type).toEqualTypeOf<'retry'>();
		expectTypeOf(event.attempt).toEqualTypeOf<number>();
		expectTypeOf(event.delayMs).toEqualTypeOf<number>();
		expectTypeOf(event.keys).toEqualTypeOf<readonly string[]>();
	});
	expectTypeOf(off).toEqualTypeOf<() => void>();
	lanes.on('error', event => {
		expectTypeOf(event.phase).toEqualTypeOf<'queued' | 'running' | 'lease'>();
		expectTypeOf(event.error).toBeUnknown();
	});
	lanes.on('idle', event => {
		expectTypeOf(event).toEqualTypeOf<{readonly type: 'idle'; readonly key: string | undefined}>();
	});
	lanes.on('*', event => {
		expectTypeOf(event).toEqualTypeOf<LaneEvent>();
	});
	expectTypeOf<LaneEvent['type']>().toEqualTypeOf<'enqueue' | 'start' | 'retry' | 'done' | 'error' | 'idle'>();
	off();

	// @ts-expect-error no such event
	expect(() => lanes.on('finish', () => undefined)).toThrow(TypeError);
	// @ts-expect-error a 'start' event has no `attempt`
	lanes.off('start', (event: {attempt: number}) => event.attempt);
});

test('errors - one base class, one subclass per failure, each with its own fields', () => {
	for (const ErrorClass of [QueueFullError, LaneTimeoutError, ClosedError, BackendError, ConflictError, HttpError, UncertainOutcomeError]) {
		expect(ErrorClass.prototype).toBeInstanceOf(WritelaneError);
	}

	expectTypeOf<WritelaneError>().toExtend<Error>();
	expectTypeOf<WritelaneError['code']>().toEqualTypeOf<string>();
	expectTypeOf<WritelaneError['key']>().toEqualTypeOf<string | readonly string[] | undefined>();
	expectTypeOf<ConstructorParameters<typeof WritelaneError>>().toEqualTypeOf<[message: string, options?: WritelaneErrorOptions]>();
	expectTypeOf<WritelaneErrorOptions>().toEqualTypeOf<{readonly key?: string | readonly string[] | undefined; readonly cause?: unknown}>();
	expectTypeOf<QueueFullError>().toExtend<WritelaneError>();
	expectTypeOf<LaneTimeoutError>().toExtend<WritelaneError>();
	expectTypeOf<ClosedError>().toExtend<WritelaneError>();
	expectTypeOf<BackendError>().toExtend<WritelaneError>();
	expectTypeOf<ConflictError>().toExtend<WritelaneError>();
	expectTypeOf<HttpError>().toExtend<WritelaneError>();
	expectTypeOf<UncertainOutcomeError>().toExtend<WritelaneError>();

	expectTypeOf<QueueFullError['limit']>().toEqualTypeOf<number>();
	expectTypeOf<LaneTimeoutError['timeout']>().toEqualTypeOf<number>();
	expectTypeOf<ConflictError['attempts']>().toEqualTypeOf<number>();
	expectTypeOf<ConflictError['reply']>().toEqualTypeOf<Reply | undefined>();
	expectTypeOf<Reply>().toEqualTypeOf<{readonly status: number; readonly body: unknown}>();
	expectTypeOf<HttpError['status']>().toEqualTypeOf<number>();
	expectTypeOf<HttpError['request']>().toEqualTypeOf<string>();
	expectTypeOf<UncertainOutcomeError['policy']>().toEqualTypeOf<'settle' | 'verify' | 'fail'>();
	expectTypeOf<UncertainOutcomeError['applied']>().toEqualTypeOf<boolean | undefined>();

	const error = new QueueFullError('objects/1', 3);
	expect({name: error.name, code: error.code, key: error.key, limit: error.limit}).toEqual({name: 'QueueFullError', code: 'WL_QUEUE_FULL', key: 'objects/1', limit: 3});
	// @ts-expect-error fields are readonly
	error.limit = 4;
});

test('error guards - narrow unknown to their class, and match errors from another copy by name', () => {
	expectTypeOf(isWritelaneError).guards.toEqualTypeOf<WritelaneError>();
	expectTypeOf(isQueueFullError).guards.toEqualTypeOf<QueueFullError>();
	expectTypeOf(isLaneTimeoutError).guards.toEqualTypeOf<LaneTimeoutError>();
	expectTypeOf(isClosedError).guards.toEqualTypeOf<ClosedError>();
	expectTypeOf(isBackendError).guards.toEqualTypeOf<BackendError>();
	expectTypeOf(isConflictError).guards.toEqualTypeOf<ConflictError>();
	expectTypeOf(isHttpError).guards.toEqualTypeOf<HttpError>();
	expectTypeOf(isUncertainOutcomeError).guards.toEqualTypeOf<UncertainOutcomeError>();

	const caught: unknown = new LaneTimeoutError('objects/1', 250);
	if (isLaneTimeoutError(caught)) {
		expectTypeOf(caught).toEqualTypeOf<LaneTimeoutError>();
	}

	expect([isLaneTimeoutError(caught), isWritelaneError(caught), isQueueFullError(caught)]).toEqual([true, true, false]);
	// What an error from another copy of the package looks like to this one.
	const foreign: unknown = {name: 'HttpError', code: 'WL_HTTP', status: 500, message: 'GET /x answered 500'};
	expect([foreign instanceof HttpError, isHttpError(foreign), isWritelaneError(foreign)]).toEqual([false, true, true]);
});

test('writelane/testing - startLwwServer() takes LwwServerOptions and resolves with an LwwServer', async () => {
	expectTypeOf(startLwwServer).parameters.toEqualTypeOf<[options?: LwwServerOptions]>();
	expectTypeOf(startLwwServer).returns.resolves.toEqualTypeOf<LwwServer>();
	expectTypeOf<LwwMode>().toEqualTypeOf<'lww' | 'etag' | 'version'>();
	expectTypeOf<LwwServerOptions['latency']>().toEqualTypeOf<number | readonly [min: number, max: number] | undefined>();
	expectTypeOf<LwwServer>().toMatchObjectType<{readonly url: string; readonly token: string; readonly objectIds: readonly string[]; readonly mode: LwwMode}>();
	expectTypeOf<LwwServer['report']>().returns.toEqualTypeOf<LwwReport>();
	expectTypeOf<LwwReport['overlaps']>().toEqualTypeOf<number>();
	// @ts-expect-error no such mode
	await expect(startLwwServer({mode: 'crdt'})).rejects.toThrow(TypeError);

	const server = await startLwwServer({objects: 1, latency: 0});
	try {
		expect(server.objectIds).toHaveLength(1);
		expect(server.report().overlaps).toBe(0);
	} finally {
		await server.close();
	}
});

test('OperationKind - the core defines its own, identical to the public one of keys/types.ts', () => {
	// The core imports no other layer, so it cannot use the public type; the two unions must not drift.
	expectTypeOf<CoreOperationKind>().toEqualTypeOf<OperationKind>();
	expectTypeOf<OperationKind>().toEqualTypeOf<'read' | 'write'>();
});
