// A batch job: examples/ops.ndjson (15 edits of 3 objects) applied with runBatch(), streamed line by
// line, in file order per object, with a journal; then the same batch again, which sends nothing.
// Starts its own reference server (whose seeded objects the file names); set WRITELANE_BASE_URL and
// WRITELANE_TOKEN to use `writelane serve` instead. The CLI does the same: see `writelane run --help`.
import {createReadStream} from 'node:fs';
import {createInterface} from 'node:readline';
import {capacities, createLanes, runBatch} from 'writelane';
import {startLwwServer} from 'writelane/testing';

const server = process.env.WRITELANE_BASE_URL ? undefined : await startLwwServer({objects: 3, latency: [2, 10]});
const baseUrl = process.env.WRITELANE_BASE_URL ?? server.url;
const headers = {authorization: `Bearer ${process.env.WRITELANE_TOKEN ?? server?.token}`};
const lanes = createLanes({keys: capacities(), concurrency: 4});

async function* operations() {
	const lines = createInterface({input: createReadStream(new URL('ops.ndjson', import.meta.url))});
	for await (const line of lines) {
		if (line.trim() !== '') {
			yield JSON.parse(line);
		}
	}
}

// A journal in memory; the CLI's `--journal FILE` keeps one in a file that survives a crash.
const acknowledged = new Set();
const journal = {
	has: entry => acknowledged.has(entry),
	append: async entry => {
		acknowledged.add(entry);
	},
};

const options = {lanes, baseUrl, headers, journal, onResult: result => result.outcome === 'failed' && console.log('failed', result.id, result.status)};
const first = await runBatch(operations(), options);
console.log(`first run: ${first.done} done, ${first.failed} failed, ${first.skipped} skipped, ${first.requests} requests in ${first.lanes.length} lanes`);
console.log(`critical path ${first.criticalPath.by}: efficiency ${Math.round(first.efficiency * 100)}%`);

const again = await runBatch(operations(), options);
console.log(`second run: ${again.resumed} resumed, ${again.requests} requests`);

// Each object ends with its last counter and its notes in file order.
const object = await (await fetch(`${baseUrl}/object?id=591c8dd8-cd65-48ed-96a2-87c95ac30b60`, {headers})).json();
const texts = object.blocks.content.flatMap(block => block.tokens?.map(token => token.text) ?? []);
console.log(`Roadmap: counter=${object.properties.counter.number}, last note "${texts.at(-1)}"`);
await lanes.close();
await server?.close();
process.exitCode = first.done === 15 && again.requests === 0 ? 0 : 1;
