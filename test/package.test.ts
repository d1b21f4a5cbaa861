import {execFile} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {dirname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {publint} from 'publint';
import {formatMessage} from 'publint/utils';
import {afterAll, expect, test} from 'vitest';

// What `npm publish` would ship, checked on the built dist/ (`npm test` builds before it runs vitest).
// Lifecycle scripts are skipped: `prepack` would rebuild dist/ under the other test files' feet.

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
	engines: {node: string};
	exports: Record<string, Record<string, string>>;
	bin: Record<string, string>;
};
const attw = join(dirname(createRequire(import.meta.url).resolve('@arethetypeswrong/cli/package.json')), 'dist/index.js');
const slow = {timeout: 60_000};

type PackResult = {
	readonly filename: string;
	readonly size: number;
	readonly unpackedSize: number;
	readonly entryCount: number;
	readonly files: ReadonlyArray<{readonly path: string; readonly size: number}>;
};

function requireBuild(): void {
	if (!existsSync(join(root, 'dist/index.js'))) {
		throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)');
	}
}

async function npmPack(args: readonly string[]): Promise<PackResult> {
	requireBuild();
	const {stdout} = await run('npm', ['pack', '--json', '--ignore-scripts', ...args], {cwd: root, maxBuffer: 64 * 1024 * 1024});
	const [result] = JSON.parse(stdout) as PackResult[];
	if (!result) {
		throw new Error(`npm pack printed no result: ${stdout}`);
	}

	return result;
}

let listing: Promise<PackResult> | undefined;
const dryRun = (): Promise<PackResult> => (listing ??= npmPack(['--dry-run']));

let workDir: Promise<string> | undefined;
const scratch = (): Promise<string> => (workDir ??= mkdtemp(join(tmpdir(), 'writelane-pack-')));

let packed: Promise<string> | undefined;
const tarball = (): Promise<string> =>
	(packed ??= (async () => {
		const destination = await scratch();
		const result = await npmPack(['--pack-destination', destination]);
		return join(destination, result.filename);
	})());

afterAll(async () => {
	const directory = await workDir;
	if (directory) {
		await rm(directory, {recursive: true, force: true});
	}
});

function sourcesUnder(directory: string): string[] {
	return readdirSync(join(root, directory), {recursive: true, encoding: 'utf8'})
		.filter(file => file.endsWith('.ts') && !file.endsWith('.d.ts'))
		.map(file => join(directory, file).replaceAll('\\', '/'));
}

/** Runs the attw CLI on a tarball or, with `--pack`, a package directory; resolves with its exit code and report. */
async function arethetypeswrong(args: readonly string[]): Promise<{code: number; report: string}> {
	try {
		const {stdout} = await run(process.execPath, [attw, ...args, '--format', 'ascii', '--no-color', '--no-emoji'], {maxBuffer: 16 * 1024 * 1024});
		return {code: 0, report: stdout};
	} catch (error) {
		const failure = error as {code?: unknown; stdout?: string; stderr?: string};
		return {code: typeof failure.code === 'number' ? failure.code : -1, report: `${failure.stdout ?? ''}${failure.stderr ?? ''}`};
	}
}

async function lint(pack: {tarball: ArrayBuffer} | 'npm', pkgDir?: string): Promise<string[]> {
	const {messages, pkg} = await publint({pack, strict: true, ...(pkgDir === undefined ? {} : {pkgDir})});
	return messages.map(message => `${message.type}: ${formatMessage(message, pkg, {color: false}) ?? message.code}`);
}

test('npm pack --dry-run - every exports subpath ships its module and its .d.ts, and the bin its script', slow, async () => {
	const files = new Set((await dryRun()).files.map(file => file.path));
	const missing: string[] = [];
	for (const [subpath, conditions] of Object.entries(manifest.exports)) {
		expect(Object.keys(conditions), `exports["${subpath}"]`).toEqual(['types', 'default']);
		const {types, default: module} = conditions as {types: string; default: string};
		for (const target of [types, module, module.replace(/\.js$/, '.d.ts')]) {
			if (!files.has(target.replace(/^\.\//, ''))) {
				missing.push(`${subpath}: ${target}`);
			}
		}
	}

	for (const target of Object.values(manifest.bin)) {
		const path = target.replace(/^\.\//, '');
		if (!files.has(path)) {
			missing.push(`bin: ${target}`);
		} else {
			expect(readFileSync(join(root, path), 'utf8').startsWith('#!/usr/bin/env node\n'), `${path} starts with a node shebang`).toBe(true);
		}
	}

	expect(missing).toEqual([]);
	expect(Object.keys(manifest.exports)).toEqual(expect.arrayContaining(['.', './ky', './redis', './testing']));
});

test('npm pack --dry-run - ships built modules, their declarations, README, LICENSE and package.json only: no sources, tests, benchmarks, examples or source maps', slow, async () => {
	const paths = (await dryRun()).files.map(file => file.path);
	const unexpected = paths.filter(path => !/^dist\/.+\.(?:js|d\.ts)$/.test(path) && !['README.md', 'LICENSE', 'package.json'].includes(path));
	expect(unexpected).toEqual([]);
	expect(paths.filter(path => /^(?:src|test|bench|examples|node_modules)\//.test(path) || path.endsWith('.map'))).toEqual([]);
	expect(paths).toEqual(expect.arrayContaining(['README.md', 'LICENSE', 'package.json']));
});

test('npm pack --dry-run - every source module is shipped built, and nothing is shipped that no source builds (no stale output)', slow, async () => {
	const shipped = new Set((await dryRun()).files.map(file => file.path).filter(path => path.startsWith('dist/') && path.endsWith('.js')));
	const expected = sourcesUnder('src').map(source => `dist/${relative('src', source).replaceAll('\\', '/').replace(/\.ts$/, '.js')}`);
	expect(expected.filter(path => !shipped.has(path)), 'sources missing from the package').toEqual([]);
	expect(
		[...shipped].filter(path => !expected.includes(path)),
		'shipped modules that no source builds (run `npm run clean && npm run build`)',
	).toEqual([]);
});

test('npm pack --dry-run - the package stays small: < 300 kB packed, < 1.5 MB unpacked, < 400 files, no file over 100 kB', slow, async () => {
	const result = await dryRun();
	const oversized = result.files.filter(file => file.size > 100_000).map(file => `${file.path} (${file.size} B)`);
	expect({packedUnder300kB: result.size < 300_000, unpackedUnder1500kB: result.unpackedSize < 1_500_000, under400Files: result.entryCount < 400, oversized}, JSON.stringify({size: result.size, unpackedSize: result.unpackedSize, entryCount: result.entryCount})).toEqual({
		packedUnder300kB: true,
		unpackedUnder1500kB: true,
		under400Files: true,
		oversized: [],
	});
});

test('publint (strict) - the packed package has no errors, warnings or suggestions', slow, async () => {
	const data = await readFile(await tarball());
	expect(await lint({tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)})).toEqual([]);
});

test('arethetypeswrong - every entry point resolves to its types under node16 (ESM) and bundler resolution', slow, async () => {
	const {code, report} = await arethetypeswrong([await tarball(), '--profile', 'esm-only']);
	const sections = report.split(/\*{10,}/);
	const verdicts = Object.keys(manifest.exports).map(subpath => {
		const name = subpath === '.' ? 'writelane' : `writelane/${subpath.slice(2)}`;
		const section = sections.find(text => text.includes(`"${name}"`)) ?? '';
		return {name, node16: /node16 \(from ESM\): OK \(ESM\)/.test(section), bundler: /bundler: OK/.test(section)};
	});
	expect({code, verdicts}, report).toEqual({code: 0, verdicts: verdicts.map(({name}) => ({name, node16: true, bundler: true}))});
});

test('publint and arethetypeswrong - both report a package whose exports point at files it does not ship (the checks above can fail)', slow, async () => {
	const directory = join(await scratch(), 'broken');
	await rm(directory, {recursive: true, force: true});
	await mkdir(join(directory, 'dist'), {recursive: true});
	await writeFile(
		join(directory, 'package.json'),
		JSON.stringify({name: 'broken', version: '1.0.0', type: 'module', files: ['dist'], exports: {'.': {types: './dist/index.d.ts', default: './dist/index.js'}}}),
	);
	// Types and code exist, but not where `exports` says.
	await writeFile(join(directory, 'dist/main.js'), 'export const value = 1;\n');
	await writeFile(join(directory, 'dist/main.d.ts'), 'export declare const value: number;\n');
	const messages = await lint('npm', directory);
	expect(messages.some(message => message.startsWith('error:') && message.includes('dist/index.js'))).toBe(true);
	const {code, report} = await arethetypeswrong(['--pack', directory, '--profile', 'esm-only']);
	expect(code).not.toBe(0);
	expect(report).toContain('Resolution failed');
});

test('engines.node - the Node running this suite is one the package declares (CI runs it on 20 and 22)', () => {
	// Printed so that a CI log shows which Node the suite really ran on.
	console.log(`test suite running on Node ${process.version}`);
	expect(manifest.engines.node).toBe('>=20');
	expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(20);
});
