/** ANSI styling that turns into plain text when colour is off (`NO_COLOR`, or output not a terminal). */
export type Style = {
	readonly bold: (text: string) => string;
	readonly dim: (text: string) => string;
	readonly red: (text: string) => string;
	readonly green: (text: string) => string;
	readonly yellow: (text: string) => string;
	readonly cyan: (text: string) => string;
};

export function createStyle(color: boolean): Style {
	const code =
		(open: number, close: number) =>
		(text: string): string =>
			color && text !== '' ? `\u001B[${open}m${text}\u001B[${close}m` : text;
	return {
		bold: code(1, 22),
		dim: code(2, 22),
		red: code(31, 39),
		green: code(32, 39),
		yellow: code(33, 39),
		cyan: code(36, 39),
	};
}

/** Visible length: escape sequences take no columns. */
export function visibleLength(text: string): number {
	// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
	return text.replace(/\u001B\[\d+m/g, '').length;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
	const fill = ' '.repeat(Math.max(0, width - visibleLength(text)));
	return align === 'left' ? text + fill : fill + text;
}

/** A table row: its label, then one cell per value column (cells may carry colour). */
export type Row = readonly [label: string, ...cells: string[]];

/**
Renders rows as columns: the first column left-aligned, the others right-aligned, separated by two
spaces. `header` names the value columns.
*/
export function renderTable(header: readonly string[], rows: readonly Row[]): string {
	const all: ReadonlyArray<readonly string[]> = [['', ...header], ...rows];
	const columns = Math.max(...all.map(row => row.length));
	const widths = Array.from({length: columns}, (_, index) => Math.max(...all.map(row => visibleLength(row[index] ?? ''))));
	return all
		.map(row =>
			widths
				.map((width, index) => pad(row[index] ?? '', width, index === 0 ? 'left' : 'right'))
				.join('   ')
				.trimEnd(),
		)
		.join('\n');
}

const integers = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});

/** `1,234` */
export function formatCount(value: number): string {
	return integers.format(value);
}

/** `1,234 ms` */
export function formatMs(value: number): string {
	return `${integers.format(Math.round(value))} ms`;
}

/** `94%` */
export function formatPercent(ratio: number): string {
	return `${Math.round(ratio * 100)}%`;
}

/** Breaks text into lines of at most `width` visible columns at spaces (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
	const lines: string[] = [];
	let line = '';
	for (const word of text.split(' ')) {
		if (line !== '' && visibleLength(line) + 1 + visibleLength(word) > width) {
			lines.push(line);
			line = word;
		} else {
			line = line === '' ? word : `${line} ${word}`;
		}
	}

	if (line !== '') {
		lines.push(line);
	}

	return lines;
}
