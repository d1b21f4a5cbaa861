import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {expect, test} from 'vitest';
import {root, runNode} from './process-helpers.js';

// The soak of `npm run soak` (bench/soak.js), shortened: the same script on the built dist/, in its
// own process with --expose-gc and --unhandled-rejections=strict, with smaller numbers.

const built = ['dist/index.js', 'dist/testing/index.js'].every(file => existsSync(join(root, file)));

type Soak = {
	readonly passed: boolean;
	readonly checks: Readonly<Record<string, boolean>>;
	readonly operations: Readonly<Record<string, number>>;
	readonly outcomes: {readonly acknowledged: number; readonly answered: number; readonly rejected: number};
	readonly faults: Readonly<Record<string, number>>;
	readonly callerTimeouts: {readonly planned: number; readonly fired: number};
	readonly ledger: {
		readonly unsettled: number;
		readonly acknowledged: {readonly write: number; readonly update: number; readonly append: number};
		readonly lostWrites: number;
		readonly lostIncrements: number;
		readonly lostAppends: number;
		readonly appendsOutOfOrder: number;
		readonly appliedTwice: number;
	};
	readonly overlaps: number;
	readonly quarters: ReadonlyArray<{readonly ok: boolean; readonly idle: boolean}>;
	readonly heap: ReadonlyArray<{readonly at: string; readonly bytes: number}>;
	readonly unexpected: readonly string[];
};

type Run = {readonly code: number | null; readonly output: string; readonly soak: Soak | undefined};

function runSoak(args: readonly string[]): Promise<Run> {
	const directory = mkdtempSync(join(tmpdir(), 'writelane-soak-'));
	const json = join(directory, 'soak.json');
	return runNode(['--expose-gc', '--unhandled-rejections=strict', 'bench/soak.js', ...args, '--json', json]).then(({code, output}) => {
		const soak = existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as Soak) : undefined;
		rmSync(directory, {recursive: true, force: true});
		return {code, output, soak};
	});
}

const shortRun = ['--operations', '1000', '--resources', '40', '--callers', '32', '--retry-after', '0', '--slow', '100', '--grace', '300', '--max-heap-growth', '2000000'];

test('soak (shortened) - 1,000 operations under 10% faults lose no acknowledged write, overlap nothing, drain every lane', {timeout: 180_000}, async ({skip}) => {
	skip(!built, 'dist/ is missing: run `npm run build` first (`npm test` does)');
	const {code, output, soak} = await runSoak(shortRun);
	expect(soak, output).toBeDefined();
	const {operations, outcomes, faults, callerTimeouts, ledger, overlaps, quarters, heap, unexpected} = soak!;

	// Every kind of operation and of fault happened, so the checks below are about something.
	expect(Object.values(operations).reduce((sum, value) => sum + value, 0)).toBe(1000);
	for (const kind of ['read', 'write', 'update()', 'append']) {
		expect(operations[kind], kind).toBeGreaterThan(50);
	}

	for (const kind of ['500', '503', '429', 'reset-before', 'reset-after', 'slow']) {
		expect(faults[kind], kind).toBeGreaterThan(0);
	}

	expect(callerTimeouts.fired).toBeGreaterThan(0);
	expect(outcomes.rejected).toBeGreaterThan(0);
	expect(ledger.acknowledged.write + ledger.acknowledged.update + ledger.acknowledged.append).toBeGreaterThan(500);

	// The checks.
	expect({lost: ledger.lostWrites + ledger.lostIncrements + ledger.lostAppends, outOfOrder: ledger.appendsOutOfOrder, twice: ledger.appliedTwice}, output).toEqual({
		lost: 0,
		outOfOrder: 0,
		twice: 0,
	});
	expect(ledger.unsettled).toBe(0);
	expect(overlaps, output).toBe(0);
	expect(quarters.map(quarter => quarter.ok)).toEqual([true, true, true, true]);
	expect(heap.map(entry => entry.at)).toEqual(['25%', '50%', '75%', '100%']);
	expect(unexpected, output).toEqual([]);
	expect(soak!.checks, output).toMatchObject({'heap flat after GC': true});
	expect(soak!.passed, output).toBe(true);
	expect(code, output).toBe(0);
	expect(output).toMatch(/^PASS$/m);
});

test('soak (shortened) - the same kind of run with plain fetch fails the checks: lost writes and overlaps', {timeout: 180_000}, async ({skip}) => {
	skip(!built, 'dist/ is missing: run `npm run build` first (`npm test` does)');
	const {code, output, soak} = await runSoak([...shortRun.slice(2), '--operations', '400', '--without-lanes']);
	expect(soak, output).toBeDefined();
	expect(soak!.overlaps).toBeGreaterThan(0);
	expect(soak!.ledger.lostIncrements + soak!.ledger.lostAppends + soak!.ledger.lostWrites).toBeGreaterThan(0);
	expect(soak!.checks).toMatchObject({'acknowledged writes all present': false, '0 overlapping writes': false});
	expect(soak!.passed).toBe(false);
	expect(code).toBe(1);
	expect(output).toMatch(/^FAIL$/m);
});

test('soak - refuses to run without --expose-gc and --unhandled-rejections=strict', async ({skip}) => {
	skip(!built, 'dist/ is missing: run `npm run build` first (`npm test` does)');
	const {code, stderr} = await runNode(['bench/soak.js', '--operations', '10']);
	expect(code).toBe(2);
	expect(stderr).toContain('Run the soak with `node --expose-gc --unhandled-rejections=strict`');
});
