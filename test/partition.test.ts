import fc from 'fast-check';
import {expect, test} from 'vitest';
import {partitionOf} from '../src/index.js';

const keys = (count: number, prefix = 'objects/') => Array.from({length: count}, (_, index) => `${prefix}${index}`);

function counts(laneKeys: readonly string[], workers: number): number[] {
	const perWorker = Array.from({length: workers}, () => 0);
	for (const key of laneKeys) {
		perWorker[partitionOf(key, workers)]! += 1;
	}

	return perWorker;
}

test('partitionOf() - the mapping is pinned: the same answers in every process and version', () => {
	const answers = ['objects/1', 'objects/2', 'spaces/s1/objects/9f2c', 'é/😀'].map(key => [
		partitionOf(key, 2),
		partitionOf(key, 10),
		partitionOf(key, 1000),
	]);
	expect(answers).toEqual([
		[0, 8, 585],
		[0, 9, 875],
		[1, 1, 300],
		[0, 0, 910],
	]);
});

test('partitionOf() - two spellings of one lane key land on the same worker', () => {
	for (const workers of [2, 7, 64]) {
		expect(partitionOf('/objects//9f2c/', workers)).toBe(partitionOf('objects/9f2c', workers));
	}
});

test('partitionOf() - one worker owns everything; answers stay in range', () => {
	fc.assert(
		fc.property(fc.string({minLength: 1}).filter(key => key.replaceAll('/', '') !== ''), fc.integer({min: 1, max: 300}), (key, workers) => {
			expect(partitionOf(key, 1)).toBe(0);
			const worker = partitionOf(key, workers);
			expect(Number.isInteger(worker) && worker >= 0 && worker < workers).toBe(true);
		}),
	);
});

test('partitionOf() - keys spread evenly: every worker within 5% of its fair share', () => {
	for (const [workers, prefix] of [
		[4, 'objects/'],
		[8, 'api.example.com/objects/'],
		[13, 'spaces/s1/objects/'],
	] as const) {
		const total = 40_000;
		const fair = total / workers;
		for (const count of counts(keys(total, prefix), workers)) {
			expect(Math.abs(count - fair) / fair).toBeLessThan(0.05);
		}
	}
});

test('partitionOf() - adding a worker moves only the keys the new worker takes, about 1/(n+1) of them', () => {
	const laneKeys = keys(20_000);
	for (const workers of [1, 3, 8, 20]) {
		let moved = 0;
		for (const key of laneKeys) {
			const before = partitionOf(key, workers);
			const after = partitionOf(key, workers + 1);
			if (before !== after) {
				expect(after).toBe(workers);
				moved++;
			}
		}

		const share = moved / laneKeys.length;
		expect(Math.abs(share - 1 / (workers + 1)) * (workers + 1)).toBeLessThan(0.08);
	}
});

test('partitionOf() - removing the last worker moves only its own keys (property)', () => {
	fc.assert(
		fc.property(fc.string({minLength: 1}).filter(key => key.replaceAll('/', '') !== ''), fc.integer({min: 1, max: 100}), (key, workers) => {
			const before = partitionOf(key, workers + 1);
			const after = partitionOf(key, workers);
			expect(before === workers || before === after).toBe(true);
		}),
	);
});

test('partitionOf() - bad input gets a precise TypeError naming the argument, value and type', () => {
	expect(() => partitionOf(42 as unknown as string, 4)).toThrow(new TypeError('Expected `key` to be a non-empty string, got `42` (number)'));
	expect(() => partitionOf('', 4)).toThrow(new TypeError('Expected `key` to be a non-empty string with at least one segment, got `""` (string)'));
	expect(() => partitionOf('//', 4)).toThrow(new TypeError('Expected `key` to be a non-empty string with at least one segment, got `"//"` (string)'));
	expect(() => partitionOf('a', 0)).toThrow(new TypeError('Expected `workers` to be an integer from 1 to 65536, got `0` (number)'));
	expect(() => partitionOf('a', 2.5)).toThrow(new TypeError('Expected `workers` to be an integer from 1 to 65536, got `2.5` (number)'));
	expect(() => partitionOf('a', Number.NaN)).toThrow(new TypeError('Expected `workers` to be an integer from 1 to 65536, got `NaN` (number)'));
	expect(() => partitionOf('a', '4' as unknown as number)).toThrow(new TypeError('Expected `workers` to be an integer from 1 to 65536, got `"4"` (string)'));
	expect(() => partitionOf('a', 65_537)).toThrow(new TypeError('Expected `workers` to be an integer from 1 to 65536, got `65537` (number)'));
});
