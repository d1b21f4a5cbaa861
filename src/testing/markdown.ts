import type {LwwBlock, LwwBlockInit} from './types.js';

/*
A small Markdown dialect, enough for round trips in tests: headings `#`–`####`, `-`/`*` and `1.` list
items, fenced code, `$$` math, `---` rules and paragraphs. Headings are TextBlocks with
`hierarchy: {key: 'Heading', val: level}` and list items carry `list: 'bullet' | 'numbered'`; these
two encodings are this server's own (the public docs name the fields, not their values).
*/

function textBlock(text: string, extra: Record<string, unknown> = {}): LwwBlockInit {
	return {
		type: 'TextBlock',
		tokens: [{type: 'TextToken', text, style: {}}],
		blocks: [],
		hierarchy: {key: 'Base', val: 0},
		...extra,
	};
}

export function markdownToBlocks(markdown: string): LwwBlockInit[] {
	const blocks: LwwBlockInit[] = [];
	const lines = markdown.replaceAll('\r\n', '\n').split('\n');
	let paragraph: string[] = [];
	const flush = (): void => {
		if (paragraph.length > 0) {
			blocks.push(textBlock(paragraph.join('\n')));
			paragraph = [];
		}
	};

	for (let index = 0; index < lines.length; index++) {
		const line = lines[index]!;
		const fence = /^(```|\$\$)\s*(\S*)\s*$/.exec(line);
		if (fence) {
			flush();
			const body: string[] = [];
			index++;
			while (index < lines.length && lines[index]!.trim() !== fence[1]) {
				body.push(lines[index]!);
				index++;
			}

			blocks.push(
				fence[1] === '$$'
					? {type: 'MathBlock', text: body.join('\n')}
					: {type: 'CodeBlock', lang: fence[2] ?? '', text: body.join('\n')},
			);
			continue;
		}

		const heading = /^(#{1,4})\s+(.*)$/.exec(line);
		const bullet = /^[-*]\s+(.*)$/.exec(line);
		const numbered = /^\d+\.\s+(.*)$/.exec(line);
		if (line.trim() === '') {
			flush();
		} else if (/^(-{3,}|\*{3,})\s*$/.test(line)) {
			flush();
			blocks.push({type: 'HorizontalLineBlock'});
		} else if (heading) {
			flush();
			blocks.push(textBlock(heading[2]!, {hierarchy: {key: 'Heading', val: heading[1]!.length}}));
		} else if (bullet) {
			flush();
			blocks.push(textBlock(bullet[1]!, {list: 'bullet'}));
		} else if (numbered) {
			flush();
			blocks.push(textBlock(numbered[1]!, {list: 'numbered'}));
		} else {
			paragraph.push(line);
		}
	}

	flush();
	return blocks;
}

function tokensText(block: LwwBlock): string {
	if (!Array.isArray(block.tokens)) {
		return '';
	}

	return (block.tokens as unknown[])
		.map(token =>
			typeof token === 'object' && token !== null && typeof (token as {text?: unknown}).text === 'string'
				? (token as {text: string}).text
				: '',
		)
		.join('');
}

function blockToMarkdown(block: LwwBlock, out: string[]): void {
	switch (block.type) {
		case 'TextBlock': {
			const hierarchy = block.hierarchy as {key?: unknown; val?: unknown} | undefined;
			const level = hierarchy?.key === 'Heading' && typeof hierarchy.val === 'number' ? hierarchy.val : 0;
			const prefix =
				level > 0 ? `${'#'.repeat(level)} ` : block.list === 'bullet' ? '- ' : block.list === 'numbered' ? '1. ' : '';
			out.push(prefix + tokensText(block));
			break;
		}

		case 'CodeBlock': {
			out.push(`\`\`\`${typeof block.lang === 'string' ? block.lang : ''}\n${String(block.text ?? '')}\n\`\`\``);
			break;
		}

		case 'MathBlock': {
			out.push(`$$\n${String(block.text ?? '')}\n$$`);
			break;
		}

		case 'HorizontalLineBlock': {
			out.push('---');
			break;
		}

		default: {
			break;
		}
	}

	for (const child of block.blocks ?? []) {
		blockToMarkdown(child, out);
	}

	for (const column of block.columns ?? []) {
		for (const child of column) {
			blockToMarkdown(child, out);
		}
	}
}

/** Blocks as Markdown, one blank line between blocks; nesting is flattened. */
export function blocksToMarkdown(blocks: readonly LwwBlock[]): string {
	const out: string[] = [];
	for (const block of blocks) {
		blockToMarkdown(block, out);
	}

	return out.join('\n\n');
}
