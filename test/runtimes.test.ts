import {execFile} from 'node:child_process';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';
import {build} from 'esbuild';
import {afterAll, expect, test} from 'vitest';
import type {LwwServer} from '../src/testing/index.js';
import {audit, counters} from './runtime-helpers.js';
import type {WorkloadOutcome, WorkloadPlan} from './runtimes/workload.js';
import {start} from './server-helpers.js';

// The README says the core runs in Deno and Bun: both runtimes come from the npm registry as dev
// dependencies (`deno`, `bun`), and each runs the bundled core against the reference server.
// A missing runtime fails these tests; they never skip.

const run = promisify(execFile);
const binaries = fileURLToPath(new URL('../node_modules/.bin/', import.meta.url));
const workload = fileURLToPath(new URL('runtimes/', import.meta.url));

let workDir: Promise<string> | undefined;
const scratch = (): Promise<string> => (workDir ??= mkdtemp(join(tmpdir(), 'writelane-runtimes-')));
afterAll(async () => {
	const directory = await workDir;
	if (directory) {
		await rm(directory, {recursive: true, force: true});
	}
});

/** One ESM file: the core and the workload, no Node built-ins, with the plan baked in; it prints the outcome as JSON. */
async function bundle(name: string, plan: WorkloadPlan): Promise<string> {
	const outfile = join(await scratch(), `${name}.mjs`);
	await build({
		stdin: {
			contents: `import {runWorkload} from './workload.js';\nconsole.log(JSON.stringify(await runWorkload(${JSON.stringify(plan)})));\n`,
			resolveDir: workload,
			sourcefile: 'main.ts',
			loader: 'ts',
		},
		bundle: true,
		format: 'esm',
		platform: 'neutral',
		target: 'es2022',
		outfile,
		logLevel: 'silent',
	});
	return outfile;
}

type Runtime = {
	readonly name: string;
	readonly userAgent: RegExp;
	readonly command: (file: string, server: LwwServer) => [binary: string, args: string[]];
};

const runtimes: Runtime[] = [
	{
		name: 'Deno',
		userAgent: /^Deno\/2\./,
		// Network access to the reference server only; no prompts, no update check.
		command: (file, server) => [join(binaries, 'deno'), ['run', '--no-prompt', `--allow-net=${new URL(server.url).host}`, file]],
	},
	{
		name: 'Bun',
		userAgent: /^Bun\/1\./,
		command: file => [join(binaries, 'bun'), ['run', file]],
	},
];

const objects = 4;
const appends = 12;
const increments = 8;

for (const runtime of runtimes) {
	test(`${runtime.name} - the bundled core keeps each object's appends in call order and loses no increment against the reference server`, {timeout: 30_000}, async () => {
		const server = await start({objects, latency: [1, 4]});
		const before = counters(server);
		const file = await bundle(runtime.name.toLowerCase(), {base: server.url, token: server.token, ids: server.objectIds, appends, increments, useLanes: true});
		const [binary, args] = runtime.command(file, server);
		const directory = await scratch();
		const {stdout} = await run(binary, args, {cwd: directory, env: {...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(directory, 'deno'), NO_COLOR: '1'}});
		const outcome = JSON.parse(stdout) as WorkloadOutcome;

		expect(outcome.userAgent).toMatch(runtime.userAgent);
		expect(outcome.statuses).toEqual(Array.from({length: objects * (appends + increments)}, () => 200));
		expect(outcome.lanesLeft).toBe(0);
		expect(audit(server, before, {appends, increments})).toEqual({overlaps: 0, lost: 0, outOfOrder: 0});
	});
}
