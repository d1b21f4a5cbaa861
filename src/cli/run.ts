import {createReadStream} from 'node:fs';
import {basename} from 'node:path';
import {createInterface} from 'node:readline';
import {type FileJournal, openFileJournal} from '../batch/file-journal.js';
import {type PreparedOperation, prepareOperation, requestInit} from '../batch/operation.js';
import {shownUrl} from '../keys/normalize.js';
import {type BatchPlan, crossShardConflict, Planner, shardOf} from '../batch/plan.js';
import {type BatchOperation, type BatchResult, type BatchSummary, capacities, createLanes, type Lanes, type LanesOptions, type LockBackend, type Preset, runBatch} from '../index.js';
import {type CliIo, commandOptions, exitCodes, helpText, parseCommandLine, parseInteger, parseRate, UsageError, usage} from './args.js';
import {createStyle, formatCount, formatMs, formatPercent, renderTable, type Style} from './table.js';

const flags = {
	'base-url': {type: 'string'},
	'token-env': {type: 'string'},
	preset: {type: 'string'},
	concurrency: {type: 'string'},
	rate: {type: 'string'},
	journal: {type: 'string'},
	'dry-run': {type: 'boolean'},
	json: {type: 'boolean'},
	shard: {type: 'string'},
	continue: {type: 'boolean'},
	redis: {type: 'string'},
	lease: {type: 'string'},
	help: {type: 'boolean', short: 'h'},
} as const;

export const runHelp = helpText({
	title: 'writelane run - apply a file of HTTP operations, in order per resource, resumably',
	usage: ['writelane run FILE.ndjson --base-url URL [options]'],
	sections: [
		{
			name: 'Options',
			rows: [
				['--base-url URL', 'Target API: `path`s are joined to it, `url`s must be on its origin'],
				['--token-env VAR', 'Send `Authorization: Bearer $VAR` (read from the environment only)'],
				['--preset capacities', 'Lanes by the Capacities API (ids in query and body); default: one per path'],
				['--concurrency N', 'Requests in flight at most (default 8)'],
				['--rate N/s|N/min', 'Requests started per second or minute at most (default none)'],
				['--journal FILE', 'Record acknowledged operations; a re-run skips them and resumes'],
				['--dry-run', 'Check the file and print the plan (lanes, critical path); send nothing'],
				['--json', 'JSON lines (plan, one per operation, summary), even on a terminal'],
				['--shard I/N', 'Run only the operations whose lanes fall on shard I of N (I from 0)'],
				['--continue', 'After a failure, still send the rest of its lane (default: skip it)'],
				['--redis URL', 'Share lanes with other processes through Redis (needs ioredis)'],
				['--lease MS', 'With --redis: how long a crashed process can hold its lanes (default 10000)'],
				['-h, --help', 'Show this help'],
			],
		},
	],
	notes: [
		'FILE holds one JSON operation per line: {id?, method, url | path, headers?, body?, key?}.',
		'The whole file is checked first; an invalid line is reported with its number and nothing is sent.',
		'Operations of one lane run one at a time in file order; after a failure the rest of its lane is',
		'skipped. Exit status: 0 all done, 1 some failed or skipped, 2 bad usage or file, 130 interrupted',
		'(Ctrl+C finishes the requests in flight, records them and prints the summary; twice quits at once).',
	],
	examples: [
		'writelane run ops.ndjson --base-url http://127.0.0.1:4010 --journal ops.journal',
		'writelane run ops.ndjson --base-url https://api.capacities.io --token-env CAP --preset capacities',
		'writelane run ops.ndjson --base-url http://127.0.0.1:4010 --dry-run --concurrency 16 --rate 5/s',
		'writelane run ops.ndjson --base-url http://127.0.0.1:4010 --shard 0/2 --journal shard0.journal',
	],
});

type Shard = {readonly index: number; readonly count: number};

type RunOptions = {
	readonly file: string;
	readonly baseUrl: URL;
	readonly token: string | undefined;
	readonly preset: 'capacities' | undefined;
	readonly concurrency: number;
	readonly rateLimit: {limit: number; interval: number} | undefined;
	readonly journal: string | undefined;
	readonly dryRun: boolean;
	readonly json: boolean;
	readonly shard: Shard | undefined;
	readonly onFailure: 'skip' | 'continue';
	readonly redis: {readonly url: string; readonly leaseMs: number} | undefined;
};

function parseShard(value: string): Shard {
	const match = /^(\d+)\/(\d+)$/.exec(value);
	const index = Number(match?.[1]);
	const count = Number(match?.[2]);
	if (!match || !Number.isSafeInteger(count) || count < 1 || count > 65_536 || index >= count) {
		throw usage('--shard', '`I/N` with 0 <= I < N <= 65536 (e.g. `0/4`)', value);
	}

	return {index, count};
}

function parseBaseUrl(value: string | undefined): URL {
	if (value === undefined) {
		throw new UsageError('Expected `--base-url` to be set: operations name paths under it. Run `writelane run --help` for the options.');
	}

	const url = URL.canParse(value) ? new URL(value) : undefined;
	if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
		throw usage('--base-url', 'an absolute http(s) URL without user name or password', shownUrl(value));
	}

	return url;
}

function readToken(name: string | undefined): string | undefined {
	if (name === undefined) {
		return undefined;
	}

	if (!/^[A-Za-z_]\w*$/.test(name)) {
		throw usage('--token-env', 'the name of an environment variable', name);
	}

	const token = process.env[name];
	if (token === undefined || token === '') {
		throw new UsageError(`Environment variable \`${name}\` (from --token-env) is not set`);
	}

	// A credential: say what is wrong without showing it.
	if (!/^[\u0021-\u007E]+$/.test(token)) {
		throw new UsageError(`Environment variable \`${name}\` (from --token-env) must hold visible ASCII characters without spaces; it holds ${token.length} characters`);
	}

	return token;
}

function parseRedis(url: string | undefined, lease: string | undefined): RunOptions['redis'] {
	if (url === undefined) {
		if (lease !== undefined) {
			throw new UsageError('`--lease` applies to `--redis` only. Run `writelane run --help` for the options.');
		}

		return undefined;
	}

	if (!URL.canParse(url) || !/^rediss?:$/.test(new URL(url).protocol)) {
		throw usage('--redis', 'a `redis://` or `rediss://` URL', shownUrl(url));
	}

	return {url, leaseMs: lease === undefined ? 10_000 : parseInteger('--lease', lease, 30, 2_147_483_647)};
}

function parseRunArgs(args: readonly string[]): RunOptions | 'help' {
	const {values, positionals} = parseCommandLine(args, flags, 'run');
	if (values.help) {
		return 'help';
	}

	const [file, ...extra] = positionals;
	if (file === undefined) {
		throw new UsageError('Expected a file of operations: `writelane run FILE.ndjson --base-url URL`. Run `writelane run --help` for the options.');
	}

	if (extra.length > 0) {
		throw new UsageError(`Unexpected argument \`${extra[0]}\` for \`writelane run\`: it takes one file. Run \`writelane run --help\` for the options.`);
	}

	if (values.preset !== undefined && values.preset !== 'capacities') {
		throw usage('--preset', '`capacities`', values.preset);
	}

	if (values.journal === '') {
		throw usage('--journal', 'a file path', values.journal);
	}

	return {
		file,
		baseUrl: parseBaseUrl(values['base-url']),
		token: readToken(values['token-env']),
		preset: values.preset,
		concurrency: values.concurrency === undefined ? 8 : parseInteger('--concurrency', values.concurrency, 1, 100_000),
		rateLimit: values.rate === undefined ? undefined : parseRate('--rate', values.rate),
		journal: values.journal,
		dryRun: values['dry-run'] === true,
		json: values.json === true,
		shard: values.shard === undefined ? undefined : parseShard(values.shard),
		onFailure: values.continue ? 'continue' : 'skip',
		redis: parseRedis(values.redis, values.lease),
	};
}

/** The file's lines with their numbers (from 1), streamed. */
async function* lines(file: string): AsyncGenerator<{readonly line: number; readonly text: string}> {
	const input = createReadStream(file, {encoding: 'utf8'});
	const reader = createInterface({input, crlfDelay: Number.POSITIVE_INFINITY});
	let line = 0;
	try {
		for await (const text of reader) {
			line++;
			yield {line, text: line === 1 ? text.replace(/^\uFEFF/, '') : text};
		}
	} finally {
		reader.close();
		input.destroy();
	}
}

/** JSON.parse's reason and column, never an excerpt of the line (some V8 messages quote it, and it may hold a credential). */
function jsonReason(error: unknown): string {
	const match = /^([^"]*?) in JSON at position (\d+)/.exec(error instanceof Error ? error.message : '');
	return match ? `not valid JSON: ${match[1]} (column ${Number(match[2]) + 1})` : 'not valid JSON';
}

const credentialHeaders = new Set(['authorization', 'proxy-authorization', 'cookie']);

type Checked = {readonly operation: PreparedOperation; readonly value: Record<string, unknown>};

/** One line checked, or why not; `undefined` for a blank line. */
function checkLine(text: string, options: RunOptions): Checked | string | undefined {
	if (text.trim() === '') {
		return undefined;
	}

	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		return jsonReason(error);
	}

	let operation: PreparedOperation;
	try {
		operation = prepareOperation(value, 0, options.baseUrl, '');
	} catch (error) {
		return (error as Error).message;
	}

	const credential = operation.headers.find(([name]) => credentialHeaders.has(name));
	if (credential) {
		return `\`headers.${credential[0]}\`: credentials come from the environment (--token-env), never from the file`;
	}

	return {operation, value: value as Record<string, unknown>};
}

/** The lanes an operation takes: its own `key`, else the rule's, from a lanes instance that never sends (so it never learns). */
async function lanesOf(planning: Lanes, operation: PreparedOperation): Promise<readonly string[]> {
	return operation.key ?? (await planning.keysOf(operation.url, requestInit(operation, undefined))).keys;
}

type Validation = {readonly errors: string[]; readonly invalid: number; readonly plan: BatchPlan} | {readonly interrupted: true};

/** Reads the whole file once: every line must be a valid operation before anything is sent. */
async function validate(options: RunOptions, planning: Lanes, signal: AbortSignal | undefined): Promise<Validation> {
	const errors: string[] = [];
	let invalid = 0;
	const report = (line: number | undefined, reason: string) => {
		invalid++;
		if (errors.length < 10) {
			errors.push(line === undefined ? reason : `line ${line}: ${reason}`);
		}
	};

	const ids = new Map<string, number>();
	const planner = new Planner();
	const everyLane = new Set<string>();
	for await (const {line, text} of lines(options.file)) {
		if (signal?.aborted) {
			return {interrupted: true};
		}

		const checked = checkLine(text, options);
		if (checked === undefined) {
			continue;
		}

		if (typeof checked === 'string') {
			report(line, checked);
			continue;
		}

		const {operation} = checked;
		if (operation.id !== undefined) {
			const first = ids.get(operation.id);
			if (first !== undefined) {
				report(line, `\`id\` ${JSON.stringify(operation.id)} is already the id of line ${first}`);
				continue;
			}

			ids.set(operation.id, line);
		}

		let keys: readonly string[];
		try {
			keys = await lanesOf(planning, operation);
		} catch (error) {
			report(line, (error as Error).message);
			continue;
		}

		if (options.shard) {
			const shard = shardOf(keys, options.shard.count);
			if (shard === undefined) {
				report(line, `its lanes ${keys.map(key => `\`${key}\``).join(', ')} fall on different shards of ${options.shard.count}; --shard cannot split it`);
				continue;
			}

			for (const key of keys) {
				everyLane.add(key);
			}

			if (shard !== options.shard.index) {
				continue;
			}
		}

		planner.add(keys);
	}

	if (options.shard && invalid === 0) {
		const conflict = crossShardConflict(everyLane, options.shard.count);
		if (conflict) {
			report(undefined, `lane \`${conflict[0]}\` and lane \`${conflict[1]}\` below it conflict but fall on different shards of ${options.shard.count}; --shard cannot split this file`);
		}
	}

	return {errors, invalid, plan: planner.plan({concurrency: options.concurrency, rateLimit: options.rateLimit})};
}

function seconds(ms: number): string {
	if (ms < 1000) {
		return formatMs(ms);
	}

	if (ms < 120_000) {
		return `${(ms / 1000).toFixed(1)} s`;
	}

	return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function planText(plan: BatchPlan, options: RunOptions, style: Style): string {
	const rows: Array<[string, string]> = [
		['operations', formatCount(plan.operations)],
		['lanes', `${formatCount(plan.lanes)}${plan.laneless > 0 ? ` (and ${formatCount(plan.laneless)} operations in no lane)` : ''}`],
		['longest lane', plan.longestLane ? `${formatCount(plan.longestLane.operations)} operations: ${plan.longestLane.key}` : '-'],
		[
			'critical path',
			`${formatCount(plan.rounds)} request latencies (the longest of: longest lane, operations / concurrency ${options.concurrency})` +
				(options.rateLimit ? `; at least ${seconds(plan.rateMs)} at --rate` : ''),
		],
	];
	const width = Math.max(...rows.map(([label]) => label.length));
	const shard = options.shard ? ` (shard ${options.shard.index}/${options.shard.count})` : '';
	return [style.bold(`Plan for ${basename(options.file)}${shard}`), ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)].join('\n');
}

/** What an error may show: its message (and the system code of its cause), never a request's headers. */
function errorText(error: unknown): string {
	if (!(error instanceof Error)) {
		return String(error);
	}

	const cause = (error.cause as {code?: unknown} | undefined)?.code;
	return `${error.message}${typeof cause === 'string' ? ` (${cause})` : ''}`;
}

type Reporter = {
	result(result: BatchResult, line: number | undefined): void;
	end(summary: BatchSummary | undefined): void;
};

function jsonReporter(io: CliIo): Reporter {
	const write = (value: unknown) => {
		io.stdout(`${JSON.stringify(value)}\n`);
	};

	return {
		result(result, line) {
			write({
				type: 'operation',
				line,
				id: result.id,
				outcome: result.outcome,
				status: result.status,
				error: result.error === undefined ? undefined : errorText(result.error),
				method: result.method,
				url: result.url,
				lanes: result.keys,
				attempts: result.attempts,
				ms: Math.round(result.ms * 10) / 10,
			});
		},
		end(summary) {
			if (summary) {
				const {lanes, ...totals} = summary;
				write({type: 'summary', ...totals, lanes: lanes.length, busiestLanes: lanes.slice(0, 10)});
			}
		},
	};
}

function truncate(text: string, columns: number): string {
	return text.length <= columns ? text : `${text.slice(0, columns - 1)}…`;
}

/** A live display on a terminal: an overall bar with rate and ETA, and the busiest lanes. */
function ttyReporter(io: CliIo, total: number, lanes: Lanes, style: Style): Reporter {
	const counts = {done: 0, failed: 0, skipped: 0, resumed: 0, interrupted: 0};
	const failures: string[] = [];
	const started = Date.now();
	let drawn = 0;
	const draw = (text: string[]) => {
		// Back to the first line drawn, then each line cleared and rewritten.
		const back = drawn > 1 ? `\u001B[${drawn - 1}A` : '';
		io.stdout(`\r${back}${text.map(line => `\u001B[2K${line}`).join('\n')}`);
		drawn = text.length;
	};

	const render = () => {
		// A line longer than the terminal would wrap and break the redraw.
		const columns = Math.max(40, (process.stdout.columns || 80) - 1);
		const settled = counts.done + counts.failed + counts.skipped + counts.resumed + counts.interrupted;
		const fraction = total === 0 ? 1 : settled / total;
		const width = Math.max(8, Math.min(24, columns - 56));
		const filled = Math.round(fraction * width);
		const elapsed = (Date.now() - started) / 1000;
		const rate = elapsed > 0 ? (settled - counts.resumed) / elapsed : 0;
		const eta = rate > 0 ? seconds(((total - settled) / rate) * 1000) : '-';
		const stats = lanes.stats();
		const busiest = [...stats.lanes]
			.sort((a, b) => b.queued - a.queued || b.running - a.running)
			.slice(0, 3)
			.map(lane => `${lane.key} (${lane.queued} queued)`);
		draw([
			`${style.cyan('█'.repeat(filled))}${style.dim('░'.repeat(width - filled))} ${formatPercent(fraction).padStart(4)}  ${formatCount(settled)}/${formatCount(total)}  ${formatCount(Math.round(rate))}/s  ETA ${eta}`,
			`${style.green(`done ${formatCount(counts.done)}`)}  ${counts.failed > 0 ? style.red(`failed ${formatCount(counts.failed)}`) : 'failed 0'}  skipped ${formatCount(counts.skipped)}  resumed ${formatCount(counts.resumed)}  in flight ${stats.active}`,
			truncate(`busiest lanes: ${busiest.length > 0 ? busiest.join(', ') : '-'}`, columns),
		]);
	};

	const timer = setInterval(render, 200);
	timer.unref?.();
	render();
	return {
		result(result, line) {
			counts[result.outcome]++;
			if (result.outcome === 'failed' && failures.length < 10) {
				const why = result.status === undefined ? errorText(result.error) : `HTTP ${result.status}`;
				failures.push(`  line ${line ?? '?'}  ${result.method} ${result.url}  ${why}`);
			}
		},
		end(summary) {
			clearInterval(timer);
			render();
			io.stdout('\n');
			if (!summary) {
				return;
			}

			const rows: Array<[string, string]> = [
				['done', style.green(formatCount(summary.done))],
				['failed', summary.failed > 0 ? style.red(formatCount(summary.failed)) : '0'],
				['skipped', summary.skipped > 0 ? style.yellow(formatCount(summary.skipped)) : '0'],
				['resumed', formatCount(summary.resumed)],
				['interrupted', formatCount(summary.interrupted)],
			];
			const sent = summary.operations - summary.resumed;
			const lines = [
				'',
				renderTable(['operations'], rows),
				'',
				`Time ${seconds(summary.elapsedMs)} (${formatCount(summary.elapsedMs > 0 ? (sent * 1000) / summary.elapsedMs : 0)} operations/s, ${formatCount(summary.requests)} requests, ${formatCount(summary.lanes.length)} lanes)`,
				`Critical path ${seconds(summary.criticalPath.ms)} (${summary.criticalPath.by}): efficiency ${formatPercent(summary.efficiency)}`,
			];
			if (failures.length > 0) {
				lines.push('', style.bold(`Failures${summary.failed > failures.length ? ` (first ${failures.length})` : ''}:`), ...failures);
			}

			if (summary.stopped) {
				lines.push('', style.yellow('Interrupted: the requests in flight finished; run the same command again to resume.'));
			}

			io.stdout(`${lines.join('\n')}\n`);
		},
	};
}

async function redisBackendFor({url, leaseMs}: NonNullable<RunOptions['redis']>): Promise<{backend: LockBackend; close: () => Promise<void>}> {
	let ioredis: {Redis: new (url: string, options: object) => unknown};
	try {
		ioredis = (await import('ioredis')) as unknown as typeof ioredis;
	} catch {
		throw new UsageError('`--redis` needs the ioredis package: npm install ioredis');
	}

	const {redisBackend} = await import('../redis.js');
	const client = new ioredis.Redis(url, {lazyConnect: true, maxRetriesPerRequest: 1}) as Parameters<typeof redisBackend>[0]['client'] & {
		connect(): Promise<void>;
		quit(): Promise<unknown>;
	};
	try {
		await client.connect();
	} catch (error) {
		client.disconnect();
		throw new UsageError(`Could not connect to Redis at ${shownUrl(url)}: ${errorText(error)}`);
	}

	return {
		backend: redisBackend({client, leaseMs}),
		async close() {
			await client.quit().catch(() => undefined);
		},
	};
}

async function execute(options: RunOptions, io: CliIo, planning: Lanes, keys: (() => Preset) | undefined): Promise<number> {
	const style = createStyle(io.color === true);
	const structured = options.json || io.tty !== true;
	const limits: LanesOptions = {concurrency: options.concurrency, rateLimit: options.rateLimit ?? false};
	let validation: Validation;
	try {
		validation = await validate(options, planning, io.signal);
	} catch (error) {
		const {code} = error as {code?: unknown};
		if (typeof code === 'string' && code.startsWith('E')) {
			io.stderr(`writelane: Cannot read ${options.file}: ${errorText(error)}\n`);
			return exitCodes.usage;
		}

		throw error;
	}

	if ('interrupted' in validation) {
		io.stderr('writelane: Interrupted while checking the file; nothing was sent.\n');
		return exitCodes.interrupted;
	}

	if (validation.invalid > 0) {
		for (const error of validation.errors) {
			io.stderr(`writelane: ${options.file} ${error}\n`);
		}

		const more = validation.invalid - validation.errors.length;
		io.stderr(`${more > 0 ? `writelane: …and ${more} more invalid lines. ` : 'writelane: '}Nothing was sent.\n`);
		return exitCodes.usage;
	}

	const {plan} = validation;
	if (options.dryRun) {
		io.stdout(structured ? `${JSON.stringify({type: 'plan', file: options.file, shard: options.shard, ...plan})}\n` : `${planText(plan, options, style)}\nNothing was sent (--dry-run).\n`);
		return exitCodes.ok;
	}

	let journal: FileJournal | undefined;
	let redis: {backend: LockBackend; close: () => Promise<void>} | undefined;
	try {
		journal = options.journal === undefined ? undefined : await openFileJournal(options.journal);
		redis = options.redis === undefined ? undefined : await redisBackendFor(options.redis);
	} catch (error) {
		await journal?.close();
		io.stderr(`writelane: ${errorText(error)}\n`);
		return exitCodes.usage;
	}

	const lanes = createLanes({keys: keys?.(), ...limits, ...(redis && {backend: redis.backend})});
	const lineOf = new Map<number, number>();
	async function* operations(): AsyncGenerator<BatchOperation> {
		let index = 0;
		for await (const {line, text} of lines(options.file)) {
			const checked = checkLine(text, options);
			if (checked === undefined) {
				continue;
			}

			if (typeof checked === 'string') {
				// Stops the batch like an interrupt; what was sent settles first.
				throw new Error(`${options.file} line ${line} changed after it was checked: ${checked}`);
			}

			const key = await lanesOf(planning, checked.operation);
			if (options.shard && shardOf(key, options.shard.count) !== options.shard.index) {
				continue;
			}

			lineOf.set(index++, line);
			yield {...(checked.value as BatchOperation), key};
		}
	}

	if (structured) {
		io.stdout(`${JSON.stringify({type: 'plan', file: options.file, shard: options.shard, ...plan})}\n`);
	} else {
		io.stdout(`${style.bold(`writelane run ${basename(options.file)}`)} → ${options.baseUrl.origin}: ${formatCount(plan.operations)} operations in ${formatCount(plan.lanes)} lanes${journal && journal.size > 0 ? `, ${formatCount(journal.size)} in the journal` : ''}\n`);
	}

	const reporter = structured ? jsonReporter(io) : ttyReporter(io, plan.operations, lanes, style);
	let summary: BatchSummary | undefined;
	let failure: unknown;
	try {
		summary = await runBatch(operations(), {
			lanes,
			baseUrl: options.baseUrl,
			headers: options.token === undefined ? undefined : {authorization: `Bearer ${options.token}`},
			journal,
			onFailure: options.onFailure,
			signal: io.signal,
			limits: {concurrency: options.concurrency, rateLimit: options.rateLimit},
			onResult(result) {
				const line = lineOf.get(result.index);
				lineOf.delete(result.index);
				reporter.result(result, line);
			},
		});
	} catch (error) {
		failure = error;
	} finally {
		reporter.end(summary);
		await lanes.close();
		await journal?.close().catch(() => undefined);
		await redis?.close();
	}

	if (failure !== undefined) {
		io.stderr(`writelane: The batch stopped: ${errorText(failure)}\n`);
		return exitCodes.failed;
	}

	if (summary!.stopped) {
		return exitCodes.interrupted;
	}

	return summary!.failed + summary!.skipped + summary!.interrupted > 0 ? exitCodes.failed : exitCodes.ok;
}

/** `writelane run FILE --base-url URL …`: resolves with the exit code. */
export async function runRun(args: readonly string[], io: CliIo): Promise<number> {
	const options = commandOptions(args, parseRunArgs, runHelp, io);
	if (typeof options === 'number') {
		return options;
	}

	const keys = options.preset === 'capacities' ? capacities : undefined;
	// Keys are planned once, by an instance that sends nothing: the run takes exactly the planned lanes (and shards).
	const planning = createLanes({keys: keys?.()});
	try {
		return await execute(options, io, planning, keys);
	} finally {
		await planning.close();
	}
}
