// Turns the raw measurements into the table, the growth lines and the verdict on the targets.

export const targets = {
	maxRatioToChain: 1.4,
	maxGrowth: 2.2,
	maxRetainedBytes: 1_000_000,
};

export const baseline = 'chain';
export const subject = 'writelane';

const integer = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
const oneDecimal = new Intl.NumberFormat('en-US', {minimumFractionDigits: 1, maximumFractionDigits: 1});

const formatMs = (ms) => (ms >= 100 ? integer.format(ms) : oneDecimal.format(ms));
const formatKb = (bytes) => integer.format(bytes / 1000);
const formatRatio = (ratio) => `${ratio.toFixed(2)}×`;

function median(values) {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = Math.floor(sorted.length / 2);
	return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * One row per (workload, contender): the median and range over the repetitions, or why there
 * are no numbers (refused by the exclusivity check, or the run failed).
 */
export function summarize(workloads, contenderNames, runs) {
	const rows = [];
	for (const workload of workloads) {
		for (const contender of contenderNames) {
			const mine = runs.filter((run) => run.workload === workload.id && run.contender === contender);
			if (mine.length === 0) {
				continue;
			}
			const row = {
				workload: workload.id,
				workloadName: workload.name,
				heap: workload.heap === true,
				contender,
				reps: mine.length,
			};
			const failed = mine.find((run) => run.error !== undefined || run.refused);
			if (failed !== undefined) {
				row.failure = failed.error === undefined ? `REFUSED: ${failed.problems.join('; ')}` : `ERROR: ${failed.error}`;
				rows.push(row);
				continue;
			}
			const times = mine.map((run) => run.ms);
			const retained = mine.map((run) => run.retainedBytes);
			const {size} = mine[0];
			Object.assign(row, {
				size,
				medianMs: median(times),
				minMs: Math.min(...times),
				maxMs: Math.max(...times),
				medianSubmitMs: median(mine.map((run) => run.submitMs)),
				retainedMedianBytes: median(retained),
				retainedMaxBytes: Math.max(...retained),
			});
			row.perWriteMs = row.medianMs / size.total;
			row.opsPerSecond = size.total / (row.medianMs / 1000);
			rows.push(row);
		}
	}
	for (const row of rows) {
		const reference = rows.find((other) => other.workload === row.workload && other.contender === baseline);
		if (row.perWriteMs !== undefined && reference?.perWriteMs !== undefined) {
			row.ratioToChain = row.perWriteMs / reference.perWriteMs;
			row.ratioAtOtherDepth = row.size.total !== reference.size.total;
		}
	}
	return rows;
}

/** Median time of the 200k run over the 100k run (or of the capped depths), per contender. */
export function growth(workloads, rows) {
	const base = workloads.find((workload) => workload.growth === 'base');
	const double = workloads.find((workload) => workload.growth === 'double');
	if (base === undefined || double === undefined) {
		return [];
	}
	const result = [];
	for (const row of rows.filter((candidate) => candidate.workload === base.id && candidate.medianMs !== undefined)) {
		const deeper = rows.find((other) => other.workload === double.id && other.contender === row.contender);
		if (deeper?.medianMs === undefined) {
			continue;
		}
		result.push({
			contender: row.contender,
			from: row.size.total,
			to: deeper.size.total,
			capped: row.size.capped || deeper.size.capped,
			ratio: deeper.medianMs / row.medianMs,
		});
	}
	return result;
}

function shortCount(count) {
	if (count >= 1_000_000 && count % 1_000_000 === 0) {
		return `${count / 1_000_000}M`;
	}
	if (count >= 1000 && count % 1000 === 0) {
		return `${count / 1000}k`;
	}
	return integer.format(count);
}

/** A Markdown table, padded so that it also reads well in a terminal. */
function table(header, body) {
	const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column].length)));
	const line = (cells) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
	const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
	return [line(header), rule, ...body.map(line)].join('\n');
}

export function formatTable(rows) {
	const header = ['workload', 'contender', 'writes', 'reps', 'median ms', 'min–max ms', 'ops/s', 'vs chain', 'retained heap KB'];
	const body = [];
	let previous;
	for (const row of rows) {
		const workload = row.workload === previous ? '' : row.workloadName;
		previous = row.workload;
		if (row.failure !== undefined) {
			body.push([workload, row.contender, '', String(row.reps), row.failure, '', '', '', '']);
			continue;
		}
		body.push([
			workload,
			row.contender,
			`${integer.format(row.size.total)}${row.size.capped ? ' (capped)' : ''}`,
			String(row.reps),
			formatMs(row.medianMs),
			`${formatMs(row.minMs)}–${formatMs(row.maxMs)}`,
			integer.format(row.opsPerSecond),
			row.ratioToChain === undefined ? '—' : `${formatRatio(row.ratioToChain)}${row.ratioAtOtherDepth ? ' *' : ''}`,
			row.heap ? formatKb(row.retainedMaxBytes) : '',
		]);
	}
	return table(header, body);
}

export function formatGrowth(lines) {
	if (lines.length === 0) {
		return '';
	}
	const width = Math.max(...lines.map(({contender}) => contender.length));
	const text = lines.map(
		({contender, from, to, capped, ratio}) =>
			`  ${contender.padEnd(width)}  ${`${shortCount(to)}/${shortCount(from)}`.padEnd(9)} ${ratio.toFixed(2)}${capped ? '  (capped depth)' : ''}`,
	);
	return ['Growth on one key (median time of the deeper run ÷ the shallower one; linear is 2.00):', ...text].join('\n');
}

/**
 * The targets from DESIGN.md, each PASS, FAIL, OPEN (only a capped anchor is in doubt) or SKIP (not
 * selected by --filter). A target that could not be measured although writelane was selected is
 * a FAIL: the bar was not shown to hold.
 */
export function verdict(workloads, rows, growthLines, {subjectSelected, subjectProblem}) {
	const results = [];
	const add = (status, target, detail) => results.push({status, target, detail});
	if (!subjectSelected) {
		add('SKIP', 'all targets', `${subject} was not selected by --filter`);
		return results;
	}
	for (const workload of workloads) {
		const mine = rows.find((row) => row.workload === workload.id && row.contender === subject);
		const reference = rows.find((row) => row.workload === workload.id && row.contender === baseline);
		const ratioTarget = `≤ ${targets.maxRatioToChain}× chain on ${workload.name}`;
		const aheadTarget = `ahead of every library anchor on ${workload.name}`;
		if (mine?.medianMs === undefined) {
			const why = mine?.failure ?? subjectProblem ?? 'not measured';
			add('FAIL', ratioTarget, why);
			add('FAIL', aheadTarget, why);
			continue;
		}
		if (reference?.medianMs === undefined) {
			add('FAIL', ratioTarget, `chain: ${reference?.failure ?? 'not measured'}`);
		} else {
			add(
				mine.ratioToChain <= targets.maxRatioToChain ? 'PASS' : 'FAIL',
				ratioTarget,
				`${formatRatio(mine.ratioToChain)} (${formatMs(mine.medianMs)} ms vs ${formatMs(reference.medianMs)} ms)`,
			);
		}
		const anchors = rows.filter(
			(row) => row.workload === workload.id && row.contender !== subject && row.contender !== baseline,
		);
		const perWrite = (row) => `${(row.perWriteMs * 1000).toFixed(2)} µs`;
		const beaten = [];
		const notBeaten = [];
		// A capped anchor is faster per write at its capped depth than at the workload's (its cost
		// per write grows with depth): beating it there settles the target, losing there does not.
		const unsettled = [];
		const unmeasured = [];
		for (const anchor of anchors) {
			if (anchor.perWriteMs === undefined) {
				unmeasured.push(anchor.contender);
				continue;
			}
			const text = `${anchor.contender} ${perWrite(anchor)}${anchor.size.capped ? ` at ${shortCount(anchor.size.total)}` : ''}`;
			if (mine.perWriteMs < anchor.perWriteMs) {
				beaten.push(text);
			} else if (anchor.size.capped) {
				unsettled.push(text);
			} else {
				notBeaten.push(text);
			}
		}
		const parts = [`${subject} ${perWrite(mine)}/write`];
		if (beaten.length > 0) {
			parts.push(`behind it: ${beaten.join(', ')}`);
		}
		if (notBeaten.length > 0) {
			parts.push(`NOT behind it: ${notBeaten.join(', ')}`);
		}
		if (unsettled.length > 0) {
			parts.push(`faster at a capped depth (run --uncapped to settle): ${unsettled.join(', ')}`);
		}
		if (unmeasured.length > 0) {
			parts.push(`not measured: ${unmeasured.join(', ')}`);
		}
		let status = 'SKIP';
		if (notBeaten.length > 0) {
			status = 'FAIL';
		} else if (unsettled.length > 0) {
			status = 'OPEN';
		} else if (beaten.length > 0) {
			status = 'PASS';
		}
		add(status, aheadTarget, parts.join('; '));
	}
	const base = workloads.find((workload) => workload.growth === 'base');
	const double = workloads.find((workload) => workload.growth === 'double');
	if (base !== undefined && double !== undefined) {
		const line = growthLines.find(({contender}) => contender === subject);
		const depths = line === undefined ? `${double.name} ÷ ${base.name}` : `${shortCount(line.to)} ÷ ${shortCount(line.from)} writes`;
		const target = `time on one key grows linearly (${depths}) ≤ ${targets.maxGrowth}`;
		if (line === undefined) {
			add('FAIL', target, subjectProblem ?? 'not measured');
		} else {
			add(line.ratio <= targets.maxGrowth ? 'PASS' : 'FAIL', target, line.ratio.toFixed(2));
		}
	}
	for (const workload of workloads.filter((candidate) => candidate.heap)) {
		const mine = rows.find((row) => row.workload === workload.id && row.contender === subject);
		const target = `retained heap after ${workload.name} < ${formatKb(targets.maxRetainedBytes)} KB`;
		if (mine?.retainedMaxBytes === undefined) {
			add('FAIL', target, mine?.failure ?? subjectProblem ?? 'not measured');
		} else {
			add(
				mine.retainedMaxBytes < targets.maxRetainedBytes ? 'PASS' : 'FAIL',
				target,
				`${formatKb(mine.retainedMaxBytes)} KB (worst of ${mine.reps} run${mine.reps === 1 ? '' : 's'})`,
			);
		}
	}
	return results;
}

export function formatVerdict(results) {
	return ['Targets:', ...results.map(({status, target, detail}) => `  ${status.padEnd(4)}  ${target}: ${detail}`)].join(
		'\n',
	);
}
