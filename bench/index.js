// The benchmark: writelane against a bare promise chain per key and the usual libraries.
// `npm run bench -- --help` for the options; bench/README.md for how to read the output.
import {spawnSync} from 'node:child_process';
import {writeFileSync} from 'node:fs';
import {cpus, loadavg} from 'node:os';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {contenders, writelaneBuilt} from './contenders.js';
import {
	baseline,
	formatGrowth,
	formatTable,
	formatVerdict,
	growth,
	subject,
	summarize,
	targets,
	verdict,
} from './report.js';
import {sizeFor, workloads} from './workloads.js';

const help = `Usage
  npm run bench -- [options]
  node --expose-gc bench/index.js [options]      (after npm run build)

Options
  --reps <n>         Repetitions per workload and contender, each in a fresh process (default 5)
  --budget <s>       Seconds one workload and contender may take in total; slower pairs run
                     fewer repetitions: at least 3 for chain and writelane, 1 for the others
                     (default 30, 0 for no limit)
  --filter <text>    Only workloads or contenders whose name contains the text; repeat to narrow
                     further (chain always runs, every ratio is against it)
  --quick            One repetition of smaller workloads: a smoke run, not a measurement
  --uncapped         Run async-lock and async-mutex at full depth on one key too (takes minutes)
  --json <file>      Also save every measurement and the verdict as JSON
  --check            Exit with code 1 when a target fails (otherwise the exit code is 0)
  -h, --help         Show this help

Examples
  npm run bench
  npm run bench -- --filter writelane --filter "one key"
  npm run bench -- --quick --check`;

const runOne = fileURLToPath(new URL('run-one.js', import.meta.url));
// The same heap limit everywhere, so the big workloads behave alike on machines with less memory.
const childFlags = ['--expose-gc', '--max-old-space-size=4096'];
const childTimeoutMs = 10 * 60_000;
const minimumReps = 3;

function fail(message) {
	console.error(message);
	process.exitCode = 2;
}

function positiveInteger(option, text) {
	const value = Number(text);
	if (!Number.isInteger(value) || value < 1) {
		throw new Error(`Expected \`--${option}\` to be an integer >= 1, got \`${text}\``);
	}
	return value;
}

function nonNegativeNumber(option, text) {
	const value = Number(text);
	if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
		throw new Error(`Expected \`--${option}\` to be a number >= 0, got \`${text}\``);
	}
	return value;
}

function readOptions() {
	const {values} = parseArgs({
		options: {
			reps: {type: 'string'},
			budget: {type: 'string', default: '30'},
			filter: {type: 'string', multiple: true, default: []},
			quick: {type: 'boolean', default: false},
			uncapped: {type: 'boolean', default: false},
			json: {type: 'string'},
			check: {type: 'boolean', default: false},
			help: {type: 'boolean', short: 'h', default: false},
		},
	});
	return {
		help: values.help,
		reps: values.reps === undefined ? (values.quick ? 1 : 5) : positiveInteger('reps', values.reps),
		budgetMs: nonNegativeNumber('budget', values.budget) * 1000,
		filters: values.filter.map((text) => text.toLowerCase()),
		quick: values.quick,
		uncapped: values.uncapped,
		json: values.json,
		check: values.check,
	};
}

/** Every filter must match the workload or the contender; chain stays as the reference. */
function selectPairs(filters) {
	const matches = (workload, contender) =>
		filters.every(
			(filter) =>
				workload.name.toLowerCase().includes(filter) ||
				workload.id.includes(filter) ||
				contender.name.toLowerCase().includes(filter),
		);
	const selection = [];
	for (const workload of workloads) {
		const chosen = contenders.filter((contender) => matches(workload, contender));
		if (chosen.length > 0) {
			selection.push({
				workload,
				contenders: contenders.filter((contender) => contender.name === baseline || chosen.includes(contender)),
			});
		}
	}
	return selection;
}

function runChild(workload, contender, {quick, uncapped}) {
	const args = [...childFlags, runOne, '--workload', workload.id, '--contender', contender.name];
	if (quick) {
		args.push('--quick');
	}
	if (uncapped) {
		args.push('--uncapped');
	}
	const start = performance.now();
	const child = spawnSync(process.execPath, args, {encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: childTimeoutMs});
	const wallMs = performance.now() - start;
	const base = {workload: workload.id, contender: contender.name, wallMs};
	const lastLine = child.stdout?.trim().split('\n').at(-1);
	if (lastLine?.startsWith('{')) {
		try {
			return {...JSON.parse(lastLine), ...base};
		} catch {
			// Falls through to the process-level description below.
		}
	}
	let why = `exit code ${child.status}`;
	if (child.error !== undefined) {
		why = child.error.message;
	} else if (child.signal !== null) {
		why = `killed by ${child.signal}`;
	}
	const stderr = child.stderr?.trim().split('\n').slice(-3).join(' / ');
	return {...base, error: stderr ? `${why}: ${stderr}` : why};
}

const failed = (run) => run.error !== undefined || run.refused === true;

function progress(text) {
	process.stderr.write(`${text}\n`);
}

function measureAll(selection, {reps, budgetMs, quick, uncapped}) {
	const runs = [];
	const built = writelaneBuilt();
	let count = 0;
	for (const {workload, contenders: chosen} of selection) {
		// Repetitions are interleaved across contenders, so a slow spell of the machine hits all of them.
		const planned = new Map(chosen.map((contender) => [contender.name, reps]));
		for (let rep = 1; rep <= reps; rep++) {
			for (const contender of chosen) {
				if (rep > planned.get(contender.name)) {
					continue;
				}
				if (contender.name === subject && !built) {
					runs.push({
						workload: workload.id,
						contender: subject,
						error: 'dist/index.js is missing: run `npm run build` first (`npm run bench` does)',
					});
					planned.set(contender.name, 0);
					continue;
				}
				const size = sizeFor(workload, contender, {quick, uncapped});
				const label = `${workload.name} · ${contender.name}${size.capped ? ` (capped at ${size.total})` : ''} · rep ${rep}`;
				let run = runChild(workload, contender, {quick, uncapped});
				count++;
				if (run.error !== undefined) {
					// A crash or a kill from outside says nothing about the contender: one more try.
					progress(`[${count}] ${label}: ERROR ${run.error}; retrying once`);
					run = runChild(workload, contender, {quick, uncapped});
					count++;
				}
				runs.push({...run, rep});
				if (failed(run)) {
					progress(`[${count}] ${label}: ${run.refused ? `REFUSED ${run.problems.join('; ')}` : `ERROR ${run.error}`}`);
					planned.set(contender.name, rep);
					continue;
				}
				progress(`[${count}] ${label}: ${Math.round(run.ms)} ms (process ${Math.round(run.wallMs)} ms)`);
				if (rep === 1 && budgetMs > 0) {
					// The verdict rests on chain and writelane: a budget never leaves them a lone run.
					const floor = contender.name === baseline || contender.name === subject ? minimumReps : 1;
					planned.set(contender.name, Math.min(reps, Math.max(floor, Math.floor(budgetMs / run.wallMs))));
				}
			}
		}
	}
	return runs;
}

/** A note under the table: a tag, then the text wrapped with a hanging indent. */
function note(tag, text, width = 100) {
	const lines = [];
	let line = tag.padEnd(10);
	for (const word of text.split(' ')) {
		if (line.trim() !== tag && line.length + word.length + 1 > width) {
			lines.push(line.trimEnd());
			line = ' '.repeat(10);
		}
		line += `${word} `;
	}
	lines.push(line.trimEnd());
	return lines.map((text) => `  ${text}`).join('\n');
}

function notes(rows, {quick, budgetMs, reps}) {
	const lines = [];
	const capped = rows.filter((row) => row.size?.capped);
	if (capped.length > 0) {
		const names = [...new Set(capped.map((row) => row.contender))].join(' and ');
		const depths = [...new Set(capped.map((row) => row.size.total))].map((total) => total.toLocaleString('en-US'));
		lines.push(
			note(
				'(capped)',
				`${names} keep the waiters of a key in one array and shift it at every hand-off; once the array is large, every shift copies it, so one key costs them time in the square of its waiters. They ran the single-key workloads at ${depths.join(' and ')} writes (--uncapped runs them at full depth, which takes minutes).`,
			),
			note('*', 'Time per write against chain at full depth: this favours the capped contender.'),
		);
	}
	if (rows.some((row) => row.heap)) {
		lines.push(
			note(
				'retained',
				'heapUsed after the drain minus before the run, with the instance alive and the results dropped, each the least of 5 full GCs; the worst repetition is shown; 1 KB = 1000 bytes.',
			),
		);
	}
	if (budgetMs > 0 && rows.some((row) => row.failure === undefined && row.reps < reps)) {
		lines.push(
			note(
				'reps',
				`Pairs whose first run took long ran fewer repetitions (--budget ${budgetMs / 1000} s per pair; ${baseline} and ${subject} at least ${Math.min(reps, minimumReps)}).`,
			),
		);
	}
	if (quick) {
		lines.push(note('--quick', 'Smaller workloads, one repetition: a smoke run, not a measurement.'));
	}
	return lines.length === 0 ? '' : ['Notes', ...lines].join('\n');
}

function main() {
	let options;
	try {
		options = readOptions();
	} catch (error) {
		fail(`${error.message}\n\n${help}`);
		return;
	}
	if (options.help) {
		console.log(help);
		return;
	}
	const selection = selectPairs(options.filters);
	if (selection.length === 0) {
		fail(`No workload or contender matches ${options.filters.map((filter) => `\`${filter}\``).join(' and ')}`);
		return;
	}
	const subjectSelected = selection.some(({contenders: chosen}) => chosen.some(({name}) => name === subject));
	const subjectProblem = writelaneBuilt() ? undefined : 'dist/index.js is missing: run `npm run build` first';
	if (subjectSelected && subjectProblem !== undefined) {
		progress(`writelane will not run: ${subjectProblem} (\`npm run bench\` does). The anchors run anyway.`);
	}

	const cpu = cpus();
	const meta = {
		date: new Date().toISOString(),
		node: process.version,
		platform: `${process.platform} ${process.arch}`,
		cpu: `${cpu[0]?.model ?? 'unknown'} × ${cpu.length}`,
		reps: options.reps,
		budgetSeconds: options.budgetMs / 1000,
		quick: options.quick,
		uncapped: options.uncapped,
		filters: options.filters,
	};
	progress(`writelane bench: ${meta.node}, ${meta.platform}, ${meta.cpu}`);
	const loadBefore = loadavg()[0];
	const started = performance.now();
	const runs = measureAll(selection, options);
	const elapsedSeconds = (performance.now() - started) / 1000;
	// Other work on the machine widens the min–max ranges; the load average makes that visible.
	meta.loadAverage = {before: loadBefore, after: loadavg()[0]};

	const chosenWorkloads = selection.map(({workload}) => workload);
	const names = contenders.map(({name}) => name);
	const rows = summarize(chosenWorkloads, names, runs);
	const growthLines = growth(chosenWorkloads, rows);
	const results = verdict(chosenWorkloads, rows, growthLines, {subjectSelected, subjectProblem});

	const output = [
		`writelane bench — ${meta.node}, ${meta.platform}, ${meta.cpu}, ${meta.date}`,
		`${options.reps} repetition(s) per pair, each in a fresh process; ${Math.round(elapsedSeconds)} s in total${options.quick ? '; --quick' : ''}`,
		`1-minute load average ${loadBefore.toFixed(2)} before, ${meta.loadAverage.after.toFixed(2)} after (${cpu.length} CPUs)`,
		'',
		formatTable(rows),
		'',
		notes(rows, options),
		'',
		formatGrowth(growthLines),
		'',
		formatVerdict(results),
	];
	console.log(output.filter((part, index) => part !== '' || output[index - 1] !== '').join('\n'));

	if (options.json !== undefined) {
		writeFileSync(
			options.json,
			`${JSON.stringify({meta: {...meta, elapsedSeconds}, targets, runs, rows, growth: growthLines, verdict: results}, undefined, '\t')}\n`,
		);
		progress(`Saved to ${options.json}`);
	}
	if (options.check && results.some(({status}) => status === 'FAIL')) {
		process.exitCode = 1;
	}
}

main();
