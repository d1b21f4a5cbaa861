import type {Style} from './table.js';

/** A finished request as the reference server logged it (`server.report().log`). */
export type TimelineEntry = {
	readonly objectId?: string;
	readonly kind: 'read' | 'write';
	readonly start: number;
	readonly end: number;
};

export type TimelineOptions = {
	/** One row per lane, top to bottom. */
	readonly lanes: ReadonlyArray<{readonly id: string; readonly label: string}>;
	/** Time one column stands for. */
	readonly msPerColumn: number;
	/** Total width in columns, labels included. */
	readonly width: number;
	readonly style: Style;
	/**
	Rows shown before the rest are summarized in one line.
	@default 20
	*/
	readonly maxLanes?: number;
};

const glyphs = {
	read: '-',
	writeStart: '[',
	writeEnd: ']',
	writeBody: '=',
	writeAlone: '|',
	writeWithRead: '+',
} as const;

/** The legend printed under the timeline. */
export function timelineLegend(style: Style): string {
	const write = style.cyan(`${glyphs.writeStart}${glyphs.writeBody.repeat(3)}${glyphs.writeEnd}`);
	const read = style.dim(glyphs.read.repeat(3));
	const both = style.yellow(glyphs.writeWithRead.repeat(3));
	const short = style.cyan(glyphs.writeAlone);
	return `${write} write  ${short} short write or hand-off  ${read} GET  ${both} GET during a write  ${style.red('2')} writes at once`;
}

/** The rendered rows and the stretch of time they show. */
export type Timeline = {
	/** The axis line, one line per lane, and a summary line when lanes were left out. */
	readonly lines: string[];
	/** Milliseconds drawn, from the earliest request on. */
	readonly shownMs: number;
	/** Milliseconds from the earliest request's start to the latest answer. */
	readonly spanMs: number;
};

/**
Renders one row per lane on a shared time axis starting at the earliest request. A write is a
bracketed bar; where two writes of one lane run at once the cell shows how many (which must not
happen under writelane). Reads are drawn where no write is, and as `+` inside a write they overlap.
Only as much time as the columns after the labels hold is drawn.
*/
export function renderTimeline(entries: readonly TimelineEntry[], options: TimelineOptions): Timeline {
	const {lanes, msPerColumn, width, style, maxLanes = 20} = options;
	let origin = Number.POSITIVE_INFINITY;
	let last = Number.NEGATIVE_INFINITY;
	for (const entry of entries) {
		origin = Math.min(origin, entry.start);
		last = Math.max(last, entry.end);
	}

	if (entries.length === 0) {
		origin = 0;
		last = 0;
	}
	const shown = lanes.slice(0, maxLanes);
	const labelWidth = Math.max(0, ...shown.map(lane => lane.label.length));
	const columns = Math.max(10, width - labelWidth - 2);
	const column = (time: number): number => Math.floor((time - origin) / msPerColumn);
	const byLane = new Map<string, TimelineEntry[]>();
	for (const entry of entries) {
		if (entry.objectId !== undefined) {
			const list = byLane.get(entry.objectId) ?? [];
			list.push(entry);
			byLane.set(entry.objectId, list);
		}
	}

	const lines = [`${' '.repeat(labelWidth + 2)}${axis(columns, msPerColumn)}`];
	for (const lane of shown) {
		lines.push(`${lane.label.padEnd(labelWidth)} |${renderRow(byLane.get(lane.id) ?? [], columns, column, msPerColumn, origin, style)}`.trimEnd());
	}

	if (lanes.length > shown.length) {
		lines.push(style.dim(`... and ${lanes.length - shown.length} more lanes`));
	}

	const spanMs = last - origin;
	return {lines, shownMs: Math.min(spanMs, columns * msPerColumn), spanMs};
}

/** Tick labels in milliseconds every ten columns. */
function axis(columns: number, msPerColumn: number): string {
	let line = '';
	for (let index = 0; index < columns; index += 10) {
		const label = String(index * msPerColumn);
		if (index + label.length > columns) {
			break;
		}

		line = line.padEnd(index) + label;
	}

	return line;
}

type Paint = 'write' | 'both' | 'read' | 'overlap' | 'none';

/** One cell: its glyph and how it is coloured. */
type Cell = readonly [glyph: string, paint: Paint];

function renderRow(
	entries: readonly TimelineEntry[],
	columns: number,
	column: (time: number) => number,
	msPerColumn: number,
	origin: number,
	style: Style,
): string {
	const writes = entries.filter(entry => entry.kind === 'write').sort((a, b) => a.start - b.start);
	const cells: Array<Cell | undefined> = Array.from({length: columns});
	const readIn = new Array<boolean>(columns).fill(false);
	for (const entry of entries) {
		if (entry.kind !== 'read') {
			continue;
		}

		for (let index = Math.max(0, column(entry.start)); index <= Math.min(columns - 1, column(entry.end)); index++) {
			readIn[index] = true;
		}
	}

	for (const write of writes) {
		const first = column(write.start);
		const last = column(write.end);
		for (let index = Math.max(0, first); index <= Math.min(columns - 1, last); index++) {
			// Two writes sharing an edge column are one after the other; only a shared midpoint is an overlap.
			const middle = origin + (index + 0.5) * msPerColumn;
			const running = writes.filter(other => other.start <= middle && other.end > middle).length;
			if (running > 1) {
				cells[index] = [String(Math.min(running, 9)), 'overlap'];
			} else if (cells[index] !== undefined || first === last) {
				cells[index] = [glyphs.writeAlone, 'write'];
			} else if (index === first) {
				cells[index] = [glyphs.writeStart, 'write'];
			} else if (index === last) {
				cells[index] = [glyphs.writeEnd, 'write'];
			} else {
				cells[index] = readIn[index] ? [glyphs.writeWithRead, 'both'] : [glyphs.writeBody, 'write'];
			}
		}
	}

	const painters: Record<Paint, (text: string) => string> = {
		write: style.cyan,
		both: style.yellow,
		read: style.dim,
		overlap: style.red,
		none: text => text,
	};
	let row = '';
	let run = '';
	let paint: Paint = 'none';
	for (const [index, cell] of cells.entries()) {
		const [glyph, next] = cell ?? (readIn[index] ? [glyphs.read, 'read'] : [' ', 'none']);
		if (next !== paint) {
			row += painters[paint](run);
			run = '';
			paint = next;
		}

		run += glyph;
	}

	return (row + painters[paint](run.trimEnd())).trimEnd();
}
