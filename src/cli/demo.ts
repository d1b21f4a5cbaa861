import {capacities, createLanes, type LanesOptions} from '../index.js';
import {type LwwBlock, type LwwLogEntry, type LwwServer, startLwwServer} from '../testing/index.js';
import {
	type CliIo,
	exitCodes,
	formatLatency,
	helpText,
	parseFlags,
	parseInteger,
	parseLatency,
	commandOptions,
} from './args.js';
import {createStyle, formatCount, formatMs, formatPercent, renderTable, type Style, wrap} from './table.js';
import {renderTimeline, timelineLegend} from './timeline.js';

/** The workload's shape. */
export type DemoOptions = {
	/**
	Seeds the workload (which automation edits which object) and the server (latencies, ids).
	@default 1
	*/
	readonly seed?: number;
	/**
	Concurrent automations; each runs its edits one after another.
	@default 20
	*/
	readonly automations?: number;
	/**
	Read-modify-write edits per automation.
	@default 10
	*/
	readonly edits?: number;
	/**
	Objects on the server the edits are spread over.
	@default 10
	*/
	readonly objects?: number;
	/**
	Server latency per request in milliseconds, fixed or a `[min, max]` range.
	@default [5, 30]
	*/
	readonly latency?: number | readonly [number, number];
	/**
	writelane's global `concurrency` in the guarded run; `false` leaves it unlimited.
	@default false
	*/
	readonly concurrency?: number | false;
	/**
	GETs (`GET /object/markdown`) each edit sends alongside its read-modify-write.
	@default 2
	*/
	readonly readsPerEdit?: number;
};

type Settings = Required<DemoOptions>;

/** What one run did to the server, measured from the server's final state and its audit report. */
export type RunResult = {
	readonly requests: number;
	readonly requestsByMethod: Readonly<Record<string, number>>;
	/** Counter increments: acknowledged by the server (`expected`), found in the stored objects, lost. */
	readonly counter: {readonly expected: number; readonly stored: number; readonly lost: number};
	/** Appended blocks: acknowledged, still present, lost. */
	readonly blocks: {readonly expected: number; readonly stored: number; readonly lost: number};
	/** Writes that reached the server while another write of the same object was in flight. */
	readonly overlaps: number;
	readonly maxInFlightPerObject: number;
	/** From the first request to the last answer, as the automations saw it (0.1 ms precision). */
	readonly wallMs: number;
};

/** The run through writelane, with how close it came to the fastest possible. */
export type GuardedRunResult = RunResult & {
	/**
	Lower bound of the wall time: the busiest lane's work (its `update()` reads and its writes, timed
	by the server), or with a concurrency limit all work divided by it, whichever is larger.
	*/
	readonly criticalPathMs: number;
	/** `criticalPathMs / wallMs`, three decimals. */
	readonly efficiency: number;
};

/** `writelane demo --json` output. */
export type DemoResult = {
	readonly options: {
		readonly seed: number;
		readonly automations: number;
		readonly edits: number;
		readonly objects: number;
		readonly latency: number | readonly [number, number];
		readonly concurrency: number | false;
		readonly readsPerEdit: number;
	};
	readonly unguarded: RunResult;
	readonly guarded: GuardedRunResult;
	/** The unguarded run lost at least one update, so the demo showed the problem. */
	readonly problemShown: boolean;
	/** The guarded run lost nothing and no two writes of one object overlapped. */
	readonly ok: boolean;
};

/** One edit of the plan: the object it changes and the objects its side GETs read (indexes into `objectIds`). */
export type PlannedEdit = {readonly object: number; readonly reads: readonly number[]};

/** A small xorshift generator: the plan must not depend on the server's request order. */
function generator(seed: number): () => number {
	let state = (seed ^ 0x5e_ed_5e_ed) >>> 0 || 1;
	return () => {
		state ^= state << 13;
		state ^= state >>> 17;
		state ^= state << 5;
		state >>>= 0;
		return state / 2 ** 32;
	};
}

/** Which automation edits which object, and what it reads alongside: the same for both runs. */
export function planWorkload(options: Pick<Settings, 'seed' | 'automations' | 'edits' | 'objects' | 'readsPerEdit'>): PlannedEdit[][] {
	const next = generator(options.seed);
	const pick = (): number => Math.floor(next() * options.objects);
	return Array.from({length: options.automations}, () =>
		Array.from({length: options.edits}, () => ({object: pick(), reads: Array.from({length: options.readsPerEdit}, pick)})),
	);
}

/** The text of the block edit `edit` of automation `automation` appends: how its survival is checked. */
function marker(automation: number, edit: number): string {
	return `automation ${automation + 1}, edit ${edit + 1}`;
}

function textBlock(text: string): Record<string, unknown> {
	return {type: 'TextBlock', tokens: [{type: 'TextToken', text, style: {}}], blocks: [], hierarchy: {key: 'Base', val: 0}};
}

function blockText(block: LwwBlock): string {
	const tokens = Array.isArray(block.tokens) ? (block.tokens as unknown[]) : [];
	return tokens.map(token => (typeof token === 'object' && token !== null ? String((token as {text?: unknown}).text ?? '') : '')).join('');
}

function counterOf(object: unknown): number {
	const value = (object as {properties?: {counter?: {number?: unknown}}} | undefined)?.properties?.counter?.number;
	return typeof value === 'number' ? value : 0;
}

/** Throws unless the answer is 2xx, then drains the body so the connection is reused. */
async function expectOk(response: Response, what: string): Promise<unknown> {
	const text = await response.text();
	if (!response.ok) {
		throw new Error(`${what} answered ${response.status}: ${text.slice(0, 200)}`);
	}

	return text === '' ? undefined : (JSON.parse(text) as unknown);
}

type Client = {
	/** GET the object, add one to its counter, PATCH it back. */
	readonly increment: (id: string) => Promise<void>;
	readonly send: typeof globalThis.fetch;
};

/**
Runs the planned automations against `server`: plain `fetch` when `guarded` is false, otherwise
through one writelane instance (`capacities()` keys, `update()` for the read-modify-write).
*/
export async function runWorkload(
	server: LwwServer,
	plan: readonly PlannedEdit[][],
	options: {readonly guarded: boolean; readonly concurrency?: number | false; readonly signal?: AbortSignal | undefined; readonly pacing?: LanesOptions['pacing']},
): Promise<RunResult> {
	const {signal} = options;
	const ids = server.objectIds;
	const {url} = server;
	const headers = {authorization: `Bearer ${server.token}`, 'content-type': 'application/json'};
	const concurrency = options.concurrency ?? false;
	const lanes = options.guarded
		? createLanes({keys: capacities(), ...(concurrency === false ? {} : {concurrency}), ...(options.pacing !== undefined && {pacing: options.pacing})})
		: undefined;
	const counterBody = (id: string, current: unknown) => ({id, properties: {counter: {type: 'number', number: counterOf(current) + 1}}});
	const client: Client = lanes
		? {
				async increment(id) {
					const {response} = await lanes.update<unknown>(`${url}/object?id=${id}`, current => counterBody(id, current), {
						method: 'PATCH',
						writeUrl: `${url}/object`,
						headers,
					});
					await expectOk(response, 'PATCH /object');
				},
				send: lanes.fetch,
			}
		: {
				async increment(id) {
					const current = await expectOk(await fetch(`${url}/object?id=${id}`, {headers}), 'GET /object');
					const body = JSON.stringify(counterBody(id, current));
					await expectOk(await fetch(`${url}/object`, {method: 'PATCH', headers, body}), 'PATCH /object');
				},
				send: (input, init) => fetch(input, init),
			};

	const objectId = (index: number): string => {
		const id = ids[index];
		if (id === undefined) {
			throw new RangeError(`The plan names object ${index + 1}, the server has ${ids.length}`);
		}

		return id;
	};

	let increments = 0;
	const appended = new Set<string>();
	const automation = async (edits: readonly PlannedEdit[], number: number): Promise<void> => {
		for (const [index, edit] of edits.entries()) {
			signal?.throwIfAborted();
			const id = objectId(edit.object);
			const text = marker(number, index);
			const change = async (): Promise<void> => {
				await client.increment(id);
				increments++;
				const body = JSON.stringify({id, blocks: [textBlock(text)]});
				await expectOk(
					await client.send(`${url}/blocks/append`, {method: 'POST', headers, body}),
					'POST /blocks/append',
				);
				appended.add(text);
			};

			const reads = edit.reads.map(async read =>
				expectOk(
					await client.send(`${url}/object/markdown?id=${objectId(read)}`, {headers}),
					'GET /object/markdown',
				),
			);
			await Promise.all([change(), ...reads]);
		}
	};

	// Interrupted: drop what is queued and cut the connections, so every automation fails at once.
	const stop = (): void => {
		void lanes?.close({abort: true});
		void server.close();
	};

	const started = performance.now();
	signal?.addEventListener('abort', stop, {once: true});
	try {
		await Promise.all(plan.map(automation));
	} finally {
		signal?.removeEventListener('abort', stop);
		await lanes?.close();
	}

	signal?.throwIfAborted();

	const wallMs = performance.now() - started;
	const report = server.report();
	let storedCounter = 0;
	let storedBlocks = 0;
	for (const id of ids) {
		const object = server.object(id);
		storedCounter += counterOf(object);
		storedBlocks += (object?.blocks.content ?? []).filter(block => appended.has(blockText(block))).length;
	}

	return {
		requests: report.total,
		requestsByMethod: report.requests,
		counter: {expected: increments, stored: storedCounter, lost: increments - storedCounter},
		blocks: {expected: appended.size, stored: storedBlocks, lost: appended.size - storedBlocks},
		overlaps: report.overlaps,
		maxInFlightPerObject: Math.max(0, ...Object.values(report.maxInFlightByObject)),
		wallMs: tenths(wallMs),
	};
}

function tenths(ms: number): number {
	return Math.round(ms * 10) / 10;
}

/** A request the lane holds: every write, and the read of a read-modify-write (`GET /object`). */
function heldByLane(entry: LwwLogEntry): boolean {
	return entry.objectId !== undefined && (entry.kind === 'write' || (entry.method === 'GET' && entry.path === '/object'));
}

/**
No schedule can beat the busiest lane (its held requests run one at a time) nor, with a
concurrency limit, the total work spread over that many slots. Times are the server's.
*/
export function criticalPath(log: readonly LwwLogEntry[], concurrency: number | false): number {
	const perLane = new Map<string, number>();
	let total = 0;
	for (const entry of log) {
		const duration = entry.end - entry.start;
		total += duration;
		if (heldByLane(entry)) {
			perLane.set(entry.objectId!, (perLane.get(entry.objectId!) ?? 0) + duration);
		}
	}

	const longest = Math.max(0, ...perLane.values());
	return concurrency === false ? longest : Math.max(longest, total / concurrency);
}

/** The demo's exit code: a failure whenever writelane lost an update or let two writes of one object overlap. */
export function demoExitCode(result: Pick<DemoResult, 'guarded'>): number {
	const {guarded} = result;
	return guarded.counter.lost === 0 && guarded.blocks.lost === 0 && guarded.overlaps === 0 && guarded.maxInFlightPerObject <= 1
		? exitCodes.ok
		: exitCodes.failed;
}

async function withServer<T>(settings: Settings, run: (server: LwwServer) => Promise<T>): Promise<T> {
	const server = await startLwwServer({objects: settings.objects, latency: settings.latency, seed: settings.seed});
	try {
		return await run(server);
	} finally {
		await server.close();
	}
}

/** The guarded run's log and object order, for the timeline. */
type Trace = {readonly log: readonly LwwLogEntry[]; readonly objectIds: readonly string[]};

/** Runs the plan unguarded, then guarded, each on a fresh server with the same seed (so the same ids). */
export async function runDemoWorkload(
	options: DemoOptions = {},
	signal?: AbortSignal,
): Promise<DemoResult & {readonly trace: Trace}> {
	const settings: Settings = {
		seed: 1,
		automations: 20,
		edits: 10,
		objects: 10,
		latency: [5, 30],
		concurrency: false,
		readsPerEdit: 2,
		...options,
	};
	const plan = planWorkload(settings);
	const unguarded = await withServer(settings, async server => runWorkload(server, plan, {guarded: false, signal}));
	let trace: Trace = {log: [], objectIds: []};
	const guarded = await withServer(settings, async (server): Promise<GuardedRunResult> => {
		const result = await runWorkload(server, plan, {guarded: true, concurrency: settings.concurrency, signal});
		trace = {log: server.report().log, objectIds: server.objectIds};
		const criticalPathMs = criticalPath(trace.log, settings.concurrency);
		const efficiency = result.wallMs > 0 ? Math.round((criticalPathMs / result.wallMs) * 1000) / 1000 : 1;
		return {...result, criticalPathMs: tenths(criticalPathMs), efficiency};
	});
	const {seed, automations, edits, objects, latency, concurrency, readsPerEdit} = settings;
	const partial = {options: {seed, automations, edits, objects, latency, concurrency, readsPerEdit}, unguarded, guarded};
	return {
		...partial,
		problemShown: unguarded.counter.lost + unguarded.blocks.lost > 0,
		ok: demoExitCode(partial) === exitCodes.ok,
		trace,
	};
}

const flags = {
	seed: {type: 'string'},
	automations: {type: 'string'},
	edits: {type: 'string'},
	objects: {type: 'string'},
	latency: {type: 'string'},
	concurrency: {type: 'string'},
	'no-timeline': {type: 'boolean'},
	json: {type: 'boolean'},
	help: {type: 'boolean', short: 'h'},
} as const;

export const demoHelp = helpText({
	title: 'writelane demo - the lost-update problem of a last-write-wins API, and the fix',
	usage: ['writelane demo [options]'],
	sections: [
		{
			name: 'Options',
			rows: [
				['--seed N', 'Seed of the workload and the server (default 1)'],
				['--automations N', 'Concurrent automations (default 20)'],
				['--edits N', 'Read-modify-write edits per automation (default 10)'],
				['--objects N', 'Objects the edits are spread over (default 10)'],
				['--latency MIN-MAX', 'Server latency per request in ms, or a fixed N (default 5-30)'],
				['--concurrency N', 'writelane global concurrency in the guarded run (default unlimited)'],
				['--no-timeline', 'Do not draw the timeline of the guarded run'],
				['--json', 'Print the results as JSON instead of the table'],
				['-h, --help', 'Show this help'],
			],
		},
	],
	notes: [
		'Starts the reference server in this process, then runs the same workload twice on a fresh',
		'server: with plain fetch, and through writelane (capacities() keys, lanes.update()). Each',
		'automation edits objects one after another: GET /object, PATCH /object with counter + 1,',
		'POST /blocks/append, with GET /object/markdown requests alongside. Lost updates are counted',
		'from the stored objects. Exit code 1 if the writelane run lost anything or overlapped.',
	],
	examples: ['writelane demo', 'writelane demo --seed 7 --automations 50 --edits 4', 'writelane demo --latency 20-80 --no-timeline', 'writelane demo --json'],
});

function parseDemoArgs(args: readonly string[]): (DemoOptions & {timeline: boolean; json: boolean}) | 'help' {
	const values = parseFlags(args, flags, 'demo');
	if (values.help) {
		return 'help';
	}

	const options: {-readonly [K in keyof DemoOptions]: DemoOptions[K]} & {timeline: boolean; json: boolean} = {
		timeline: !values['no-timeline'],
		json: values.json === true,
	};
	if (values.seed !== undefined) {
		options.seed = parseInteger('--seed', values.seed, Number.MIN_SAFE_INTEGER);
	}

	if (values.automations !== undefined) {
		options.automations = parseInteger('--automations', values.automations, 1, 10_000);
	}

	if (values.edits !== undefined) {
		options.edits = parseInteger('--edits', values.edits, 1, 10_000);
	}

	if (values.objects !== undefined) {
		options.objects = parseInteger('--objects', values.objects, 1, 10_000);
	}

	if (values.latency !== undefined) {
		options.latency = parseLatency('--latency', values.latency);
	}

	if (values.concurrency !== undefined) {
		options.concurrency = parseInteger('--concurrency', values.concurrency, 1);
	}

	return options;
}

/** Wall time over the critical path, one decimal: `1.5`. */
function ratio(run: GuardedRunResult): string {
	return run.criticalPathMs > 0 ? (run.wallMs / run.criticalPathMs).toFixed(1) : '1.0';
}

function lostCell(lost: number, expected: number, style: Style): string {
	const text = `${formatCount(lost)} of ${formatCount(expected)}`;
	return lost > 0 ? style.red(text) : style.green(text);
}

/** Columns of time per mean request: fine enough to see single requests as bars. */
function msPerColumn(latency: number | readonly [number, number]): number {
	const mean = typeof latency === 'number' ? latency : (latency[0] + latency[1]) / 2;
	return Math.max(1, Math.round(mean / 6));
}

/** The human report: the table, what it means, and the timeline. */
export function renderDemo(result: DemoResult & {readonly trace: Trace}, options: {readonly style: Style; readonly timeline: boolean}): string {
	const {style} = options;
	const {unguarded, guarded} = result;
	const settings = result.options;
	const limit = settings.concurrency === false ? '' : `, concurrency ${settings.concurrency}`;
	const title = `writelane demo: ${settings.automations} automations x ${settings.edits} edits on ${settings.objects} objects, latency ${formatLatency(settings.latency)}, seed ${settings.seed}${limit}`;
	const lines = [
		...wrap(title, 100).map(line => style.bold(line)),
		'',
		renderTable(
			['plain fetch', 'writelane'],
			[
				['requests', formatCount(unguarded.requests), formatCount(guarded.requests)],
				['lost counter increments', lostCell(unguarded.counter.lost, unguarded.counter.expected, style), lostCell(guarded.counter.lost, guarded.counter.expected, style)],
				['lost appended blocks', lostCell(unguarded.blocks.lost, unguarded.blocks.expected, style), lostCell(guarded.blocks.lost, guarded.blocks.expected, style)],
				['overlapping writes', formatCount(unguarded.overlaps), formatCount(guarded.overlaps)],
				['max writes in flight per object', formatCount(unguarded.maxInFlightPerObject), formatCount(guarded.maxInFlightPerObject)],
				['wall time', formatMs(unguarded.wallMs), formatMs(guarded.wallMs)],
				[settings.concurrency === false ? 'critical path (busiest lane)' : 'critical path (busiest lane, work / concurrency)', '', formatMs(guarded.criticalPathMs)],
				['efficiency (critical path / wall time)', '', formatPercent(guarded.efficiency)],
			],
		),
		'',
	];

	const orWork = settings.concurrency === false ? '' : ` or all work / ${settings.concurrency}, whichever is longer`;
	const note = `Critical path: the busiest object's lane work (its update() GETs and writes, server-timed)${orWork}; no schedule finishes sooner. Above it: lane hand-offs on the one event loop that client and server share here, and automations waiting for their own previous edit.`;
	lines.push(...wrap(note, 100).map(line => style.dim(line)), '');
	const updates = unguarded.counter.expected + unguarded.blocks.expected;
	if (result.problemShown) {
		const lost = unguarded.counter.lost + unguarded.blocks.lost;
		const what = style.red(`${formatCount(lost)} of ${formatCount(updates)} updates`);
		lines.push(
			...wrap(
				`Plain fetch lost ${what} although every request got a 2xx: writes to one object overlapped (up to ${unguarded.maxInFlightPerObject} at once) and the last one won.`,
				100,
			),
		);
	} else {
		lines.push(
			...wrap(
				'Plain fetch lost nothing this time: the timing happened to keep conflicting writes apart. Try another --seed, more --automations or fewer --objects.',
				100,
			).map(line => style.yellow(line)),
		);
	}

	if (result.ok) {
		lines.push(
			...wrap(
				`writelane lost ${style.green('nothing')}: each object's writes ran one at a time, and the run took ${ratio(guarded)}x its critical path.`,
				100,
			),
		);
	} else {
		const lost = guarded.counter.lost + guarded.blocks.lost;
		lines.push(
			style.red(`writelane FAILED: ${formatCount(lost)} updates lost, ${formatCount(guarded.overlaps)} overlapping writes (exit code 1).`),
		);
	}

	if (options.timeline && result.trace.log.length > 0) {
		const ms = msPerColumn(settings.latency);
		const lanes = result.trace.objectIds.map((id, position) => ({id, label: `object ${position + 1}`}));
		const timeline = renderTimeline(result.trace.log, {lanes, msPerColumn: ms, width: 100, style});
		const window = `the first ${formatMs(timeline.shownMs)} of ${formatMs(timeline.spanMs)} (${ms} ms per column)`;
		lines.push('', style.bold(`writelane run, one row per object lane: ${window}`), ...timeline.lines, timelineLegend(style));
	}

	return `${lines.join('\n')}\n`;
}

/** `writelane demo [options]`; resolves with the exit code. */
export async function runDemo(args: readonly string[], io: CliIo): Promise<number> {
	const parsed = commandOptions(args, parseDemoArgs, demoHelp, io);
	if (typeof parsed === 'number') {
		return parsed;
	}

	const {timeline, json, ...options} = parsed;
	let result: Awaited<ReturnType<typeof runDemoWorkload>>;
	try {
		result = await runDemoWorkload(options, io.signal);
	} catch (error) {
		if (io.signal?.aborted) {
			io.stderr('writelane: demo interrupted\n');
			return exitCodes.interrupted;
		}

		throw error;
	}

	if (json) {
		const {trace: _trace, ...rest} = result;
		io.stdout(`${JSON.stringify(rest, null, 2)}\n`);
	} else {
		io.stdout(renderDemo(result, {style: createStyle(io.color === true), timeline}));
	}

	return demoExitCode(result);
}
