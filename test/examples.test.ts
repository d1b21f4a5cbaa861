import {existsSync} from 'node:fs';
import {test} from 'vitest';
import {type NodeRun, runNode} from './process-helpers.js';

// Every example runs as its users would run it, `node examples/<name>.mjs` after a build: the
// package resolves itself by name through its `exports` map, so dist/ must exist.

const built = ['dist/index.js', 'dist/testing/index.js'].every(file => existsSync(new URL(`../${file}`, import.meta.url)));

function runExample(file: string): Promise<NodeRun> {
	// Each example starts its own reference server unless these point it elsewhere.
	const {WRITELANE_BASE_URL: _url, WRITELANE_TOKEN: _token, ...env} = process.env;
	return runNode([`examples/${file}`], env);
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
