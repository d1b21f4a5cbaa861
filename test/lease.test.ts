import {getEventListeners} from 'node:events';
import {expect, test} from 'vitest';
import {BackendError, createLanes, isBackendError, type LaneEvent, type LockBackend} from '../src/index.js';
import {deferred, flush} from './helpers.js';

/** A distributed backend stand-in whose leases the test can revoke, and that can be made unreachable. */
function fakeBackend() {
	const granted: Array<{keys: readonly string[]; kind: string; lose: (reason: unknown) => void; released: boolean}> = [];
	let token = 0;
	let down = false;
	const backend: LockBackend = {
		name: 'fake',
		async acquire(keys, {kind}) {
			if (down) {
				throw new Error('connection refused');
			}

			const controller = new AbortController();
			const entry = {keys, kind, lose: (reason: unknown) => controller.abort(reason), released: false};
			granted.push(entry);
			return {
				fencingToken: ++token,
				signal: controller.signal,
				release() {
					entry.released = true;
				},
			};
		},
	};
	return {
		backend,
		granted,
		setDown(value: boolean) {
			down = value;
		},
	};
}

test('a lost lease aborts the running operation’s signal, fires an error event with phase lease, and fails the operation closed', async () => {
	const {backend, granted} = fakeBackend();
	const lanes = createLanes({backend});
	const events: LaneEvent[] = [];
	lanes.on('error', event => events.push(event));
	const gate = deferred();
	let seen: AbortSignal | undefined;
	const running = lanes.write('objects/1', async ({signal, fencingToken}) => {
		seen = signal;
		expect(fencingToken).toBe(1);
		await gate.promise;
		return 'wrote';
	});
	await flush();
	expect(seen?.aborted).toBe(false);
	granted[0]!.lose(new Error('lease expired'));
	expect(seen?.aborted).toBe(true);
	expect(isBackendError(seen?.reason)).toBe(true);
	expect(events.map(event => event.type === 'error' && event.phase)).toEqual(['lease']);
	gate.resolve();
	const error = await running.catch((error_: unknown) => error_);
	expect(error).toBeInstanceOf(BackendError);
	expect((error as BackendError).cause).toEqual(new Error('lease expired'));
	expect(granted[0]!.released).toBe(true);
	expect(events.map(event => event.type === 'error' && event.phase)).toEqual(['lease', 'running']);
});

test('the caller’s signal still reaches a task that runs under a lease, and no listener is left on it', async () => {
	const {backend} = fakeBackend();
	const lanes = createLanes({backend});
	const controller = new AbortController();
	const reason = new Error('caller gave up');
	const running = lanes.write(
		'objects/1',
		({signal}) =>
			new Promise((_, reject) => {
				signal!.addEventListener('abort', () => reject(signal!.reason), {once: true});
			}),
		{signal: controller.signal},
	);
	await flush();
	controller.abort(reason);
	await expect(running).rejects.toBe(reason);
	expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
});

test('an unreachable backend fails writes closed with BackendError; reads in parallel mode never ask it', async () => {
	const {backend, setDown, granted} = fakeBackend();
	const lanes = createLanes({backend});
	setDown(true);
	let ran = false;
	const error = await lanes
		.write('objects/1', () => {
			ran = true;
		})
		.catch((error_: unknown) => error_);
	expect(ran).toBe(false);
	expect(error).toBeInstanceOf(BackendError);
	expect((error as BackendError).cause).toEqual(new Error('connection refused'));
	expect(await lanes.read('objects/1', () => 'read')).toBe('read');
	setDown(false);
	expect(await lanes.write('objects/1', () => 'back')).toBe('back');
	expect(granted.map(entry => entry.kind)).toEqual(['write']);
});
