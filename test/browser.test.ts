import {existsSync} from 'node:fs';
import {createServer, request as forward, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';
import {type Browser, chromium} from 'playwright-core';
import {afterAll, expect, onTestFinished, test} from 'vitest';
import type {LwwServer} from '../src/testing/index.js';
import type {PagePlan} from './browser/page.js';
import {audit, counters} from './runtime-helpers.js';
import type {WorkloadOutcome} from './runtimes/workload.js';
import {start} from './server-helpers.js';

// The README says the core runs in browsers: this bundles it for the browser and runs lanes in
// headless Chromium against the reference server. A missing Chromium fails the file; it never skips.
const executablePath = '/usr/bin/chromium';
const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const entry = fileURLToPath(new URL('browser/page.ts', import.meta.url));
// The page and its script live under this prefix; every other path goes to the reference server, so
// the page calls the API from its own origin (no CORS) with the API's real paths.
const prefix = '/__page/';
const html = `<!doctype html><meta charset="utf-8"><title>writelane</title><script type="module" src="${prefix}lanes.js"></script>`;

type Setup = {readonly browser: Browser; readonly script: string};
let setup: Promise<Setup> | undefined;

// Inside each test rather than in beforeAll, so a missing Chromium counts as failed tests, not skipped ones.
function prepare(): Promise<Setup> {
	setup ??= (async () => {
		if (!existsSync(executablePath)) {
			throw new Error(`No Chromium at ${executablePath}: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
		}

		const bundle = await build({entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent'});
		const browser = await chromium.launch({executablePath, headless: true, args: chromiumArgs});
		return {browser, script: bundle.outputFiles[0]?.text ?? ''};
	})();
	return setup;
}

afterAll(async () => {
	await (await setup?.catch(() => undefined))?.browser.close();
});

/** Serves the page and its bundle, and passes every other request through to `server`. */
async function servePage(server: LwwServer, script: string): Promise<string> {
	const target = new URL(server.url);
	const http: Server = createServer((request, response) => {
		if (request.url === `${prefix}index.html` || request.url === `${prefix}lanes.js`) {
			const isScript = request.url.endsWith('.js');
			response.writeHead(200, {'content-type': isScript ? 'text/javascript; charset=utf-8' : 'text/html; charset=utf-8'});
			response.end(isScript ? script : html);
			return;
		}

		const upstream = forward({host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers}, reply => {
			response.writeHead(reply.statusCode ?? 502, reply.headers);
			reply.pipe(response);
		});
		upstream.on('error', () => response.destroy());
		request.pipe(upstream);
	});
	await new Promise<void>(resolve => {
		http.listen(0, '127.0.0.1', resolve);
	});
	onTestFinished(async () => {
		http.closeAllConnections();
		await new Promise(resolve => http.close(resolve));
	});
	return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

async function runInPage(server: LwwServer, plan: Omit<PagePlan, 'token' | 'ids'>): Promise<WorkloadOutcome> {
	const {browser, script} = await prepare();
	const origin = await servePage(server, script);
	const page = await browser.newPage();
	onTestFinished(() => page.close());
	const errors: string[] = [];
	page.on('pageerror', error => errors.push(error.message));
	await page.goto(`${origin}${prefix}index.html`);
	await page.waitForFunction(() => 'runLanes' in globalThis);
	const full: PagePlan = {...plan, token: server.token, ids: server.objectIds};
	const outcome = await page.evaluate(async (plan: PagePlan) => {
		const {runLanes} = globalThis as unknown as {runLanes: (plan: PagePlan) => Promise<WorkloadOutcome>};
		return runLanes(plan);
	}, full);
	expect(errors).toEqual([]);
	return outcome;
}

const objects = 4;
const appends = 12;
const increments = 8;

test('headless Chromium - the bundled core keeps each object\'s appends in call order and loses no increment against the reference server', {timeout: 45_000}, async () => {
	const server = await start({objects, latency: [1, 4]});
	const before = counters(server);
	const outcome = await runInPage(server, {appends, increments, useLanes: true});

	expect(outcome.userAgent).toMatch(/HeadlessChrome|Chrome\//);
	expect(outcome.nodeGlobals).toBe(false);
	expect(outcome.statuses).toEqual(Array.from({length: objects * (appends + increments)}, () => 200));
	expect(outcome.lanesLeft).toBe(0);
	expect(audit(server, before, {appends, increments})).toEqual({overlaps: 0, lost: 0, outOfOrder: 0});
});

test('headless Chromium - the same calls with the page\'s plain fetch overlap writes and lose updates (the check above can fail)', {timeout: 45_000}, async () => {
	// One object, so every pair of writes the browser has in flight at once (it opens up to six
	// connections per origin) is on the same object: the overlap does not depend on scheduling luck.
	const server = await start({objects: 1, latency: [5, 10]});
	const before = counters(server);
	const outcome = await runInPage(server, {appends, increments, useLanes: false});

	expect(outcome.nodeGlobals).toBe(false);
	const {overlaps, lost, outOfOrder} = audit(server, before, {appends, increments});
	expect(overlaps).toBeGreaterThan(0);
	expect(lost + outOfOrder).toBeGreaterThan(0);
});
