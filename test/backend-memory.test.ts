import {expect, test} from 'vitest';
import {createLanes, memoryBackend, type MemoryBackendOptions} from '../src/index.js';
import {backendContract} from './backend-contract.js';

backendContract('memoryBackend({shared: true})', {
	async peers(count) {
		const backend = memoryBackend({shared: true});
		return Array.from({length: count}, () => backend);
	},
	async cleanup() {},
});

test('memoryBackend() - by default marks the in-process lanes as the only exclusion (the fast path)', () => {
	expect(memoryBackend().inProcess).toBe(true);
	expect(memoryBackend({shared: true}).inProcess).toBe(false);
});

test('memoryBackend() - without `shared`, two lanes instances do not exclude each other', async () => {
	const backend = memoryBackend();
	const [a, b] = [createLanes({backend}), createLanes({backend})];
	let running = 0;
	let most = 0;
	const task = async () => {
		running++;
		most = Math.max(most, running);
		await Promise.resolve();
		running--;
	};

	await Promise.all([a.write('k', task), b.write('k', task)]);
	expect(most).toBe(2);
});

test('memoryBackend() - invalid options get a precise TypeError', () => {
	expect(() => memoryBackend({shared: 'yes' as unknown as boolean})).toThrow(new TypeError('Expected `shared` to be a boolean, got `"yes"` (string)'));
	expect(() => memoryBackend(null as unknown as MemoryBackendOptions)).toThrow(new TypeError('Expected `options` to be an object, got `null` (null)'));
});
