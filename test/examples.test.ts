import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {test} from 'vitest';

// Every example runs as its users would run it, `node examples/<name>.mjs` after a build: the
// package resolves itself by name through its `exports` map, so dist/ must exist.

const root = fileURLToPath(new URL('..', import.meta.url));
const built = ['dist/index.js', 'dist/testing/index.js'].every(file => existsSync(new URL(`../${file}`, import.meta.url)));

type Run = {readonly code: number | null; readonly stdout: string; readonly stderr: string};

function runExample(file: string): Promise<Run> {
	// Each example starts its own reference server unless these point it elsewhere.
	const {WRITELANE_BASE_URL: _url, WRITELANE_TOKEN: _token, ...env} = process.env;
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [`examples/${file}`], {cwd: root, env, stdio: ['ignore', 'pipe', 'pipe']});
		let stdout = '';
		let stderr = '';
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			stdout += chunk;
		});
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
			stderr += chunk;
		});
		child.on('error', reject);
		// The process must end on its own: an example that leaves a server or a timer behind times out here.
		child.on('close', code => {
			resolve({code, stdout, stderr});
		});
	});
}

/** Each example and the lines its output must contain. */
const examples: Readonly<Record<string, readonly RegExp[]>> = {
	'capacities-fetch.mjs': [/^capacities-fetch: 40 concurrent edits to 5 objects, lost=0$/m],
	'capacities-ky.mjs': [/^capacities-ky: 40 concurrent edits to 5 objects, lost=0$/m],
	'write-any-client.mjs': [/^write-any-client: 100 concurrent increments over node:http, lost=0$/m],
	'batch-loop.mjs': [
		/^progress 100\/200 \(queued \d+ in \d+ lanes\)$/m,
		/^stats {"active":0,"queued":0,"waitingForSlot":0,"lanes":\[\]}$/m,
		/^batch-loop: 200 operations on 8 objects, lost=0, out-of-order=0$/m,
	],
	'read-modify-write.mjs': [/^read-modify-write: 150 concurrent increments with update\(\), lost=0$/m],
	'quick-start.mjs': [/^quick-start: counter=4 overlaps=0$/m],
};

test.concurrent.for(Object.keys(examples))('examples/%s - exits 0 on its own and prints its result', {timeout: 30_000}, async (file, {expect, skip}) => {
	skip(!built, 'dist/ is missing: run `npm run build` first (`npm test` does)');
	const {code, stdout, stderr} = await runExample(file);
	expect(code, stderr).toBe(0);
	for (const line of examples[file] ?? []) {
		expect(stdout).toMatch(line);
	}
});
