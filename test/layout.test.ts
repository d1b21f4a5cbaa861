// The folders of src/ are layers with one-way dependencies. This reads the import and export
// statements (static, `import type`, dynamic `import()`) of every file under src/ with the TypeScript
// parser, so imports named in comments or strings do not count, and checks who may import what.
import {readdirSync, readFileSync} from 'node:fs';
import {isBuiltin} from 'node:module';
import {join, posix, relative} from 'node:path';
import ts from 'typescript';
import {expect, test} from 'vitest';

const root = 'src';

type Import = {readonly file: string; readonly specifier: string; readonly target: string};

function sourcesUnder(directory: string): string[] {
	return readdirSync(directory, {withFileTypes: true}).flatMap(entry => {
		const path = join(directory, entry.name);
		return entry.isDirectory() ? sourcesUnder(path) : entry.name.endsWith('.ts') ? [path] : [];
	});
}

/**
What `text` (the source of `file`, a path relative to src/) imports. `target` is the imported file
relative to src/ for a relative specifier (`core/clock.ts`), else the specifier itself (`p-queue`).
*/
function importsOf(file: string, text: string): Import[] {
	return ts.preProcessFile(text, true, true).importedFiles.map(({fileName: specifier}) => {
		const target = specifier.startsWith('.') ? posix.join(posix.dirname(file), specifier).replace(/\.js$/, '.ts') : specifier;
		return {file, specifier, target};
	});
}

const folderOf = (path: string): string => (path.includes('/') ? path.slice(0, path.indexOf('/')) : '');
const isOurs = (target: string): boolean => target.endsWith('.ts');
const packageOf = (specifier: string): string => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/** The layering rules; each broken one is a line naming the file and what it imports. */
function violations(imports: readonly Import[]): string[] {
	const found: string[] = [];
	for (const {file, specifier, target} of imports) {
		const folder = folderOf(file);
		const refuse = (rule: string) => found.push(`${file} imports '${specifier}': ${rule}`);
		if (folder === 'core') {
			if (isOurs(target) ? !['core', 'errors'].includes(folderOf(target)) : !['p-queue', 'async-mutex'].includes(packageOf(specifier))) {
				refuse('core/ may import only core/, errors/, p-queue and async-mutex');
			}
		} else if (folder === 'keys') {
			if (!isOurs(target) || !['keys', 'errors'].includes(folderOf(target))) {
				refuse('keys/ may import only keys/ and errors/');
			}
		} else if (folder === 'errors') {
			if (!isOurs(target) || folderOf(target) !== 'errors') {
				refuse('errors/ may import only errors/');
			}
		}

		if (!isOurs(target)) {
			if (packageOf(specifier) === 'ky' && file !== 'ky.ts') {
				refuse("only ky.ts may import 'ky'");
			}

			// The CLI binary is no entry of the library: it loads ioredis with `import()` for `--redis` only.
			if (packageOf(specifier) === 'ioredis' && file !== 'redis.ts' && file !== 'cli/run.ts' && !/^backends\/redis[^/]*\.ts$/.test(file)) {
				refuse("only redis.ts and backends/redis*.ts (and the CLI's `--redis`) may import 'ioredis'");
			}

			if ((folder === 'core' || folder === 'keys') && (specifier.startsWith('node:') || isBuiltin(specifier))) {
				refuse(`${folder}/ runs in browsers, Deno and Bun: no Node modules`);
			}
		}
	}

	return found;
}

test('layout - every import under src/ keeps to the layers', () => {
	const files = sourcesUnder(root);
	expect(files.length).toBeGreaterThan(50);
	const imports = files.flatMap(path => importsOf(relative(root, path).replaceAll('\\', '/'), readFileSync(path, 'utf8')));
	// The parse found the imports at all: core/engine.ts uses core/clock.ts and errors/.
	expect(imports).toContainEqual({file: 'core/engine.ts', specifier: './clock.js', target: 'core/clock.ts'});
	expect(violations(imports)).toEqual([]);
	// Every relative import names a file that exists, so a rule cannot pass on a path it misread.
	const known = new Set(files.map(path => relative(root, path).replaceAll('\\', '/')));
	expect(imports.filter(({target}) => isOurs(target) && !known.has(target))).toEqual([]);
});

test('layout - the rules refuse each forbidden import, static, type-only or dynamic, and ignore comments', () => {
	const check = (file: string, text: string) => violations(importsOf(file, text));
	expect(check('core/engine.ts', "import type {OperationKind} from '../keys/types.js';")).toEqual([
		"core/engine.ts imports '../keys/types.js': core/ may import only core/, errors/, p-queue and async-mutex",
	]);
	expect(check('core/engine.ts', "const m = await import('../http/retry.js');")).toHaveLength(1);
	expect(check('core/limiter.ts', "import {Mutex} from 'async-mutex';\nimport PQueue from 'p-queue';\nimport {invalid} from '../errors/describe.js';")).toEqual([]);
	expect(check('core/clock.ts', "import {setTimeout} from 'node:timers';")).toHaveLength(2);
	expect(check('keys/compile.ts', "export {clock} from '../core/clock.js';")).toHaveLength(1);
	expect(check('keys/lru.ts', "import {createHash} from 'crypto';")).toHaveLength(2);
	expect(check('keys/partition.ts', "/** @example import {partitionOf} from 'writelane'; */\nconst x = 1;")).toEqual([]);
	expect(check('errors/errors.ts', "import {describe} from '../keys/normalize.js';")).toHaveLength(1);
	expect(check('http/http.ts', "import ky from 'ky';")).toEqual(["http/http.ts imports 'ky': only ky.ts may import 'ky'"]);
	expect(check('ky.ts', "import ky from 'ky';")).toEqual([]);
	expect(check('lanes.ts', "import Redis from 'ioredis';")).toHaveLength(1);
	expect(check('backends/redis-scripts.ts', "import type {Redis} from 'ioredis';")).toEqual([]);
	expect(check('redis.ts', "import Redis from 'ioredis';")).toEqual([]);
	expect(check('http/http.ts', "import {readFile} from 'node:fs/promises';")).toEqual([]);
});
