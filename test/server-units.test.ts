import fc from 'fast-check';
import {expect, test} from 'vitest';
import {appendBlocks, blockIds, deleteBlock, findBlock} from '../src/testing/blocks.js';
import {parseBlocks} from '../src/testing/input.js';
import {blocksToMarkdown, markdownToBlocks} from '../src/testing/markdown.js';
import {createRandom} from '../src/testing/random.js';
import {FixedWindowLimiter, rateLimitHeader} from '../src/testing/rate-limit.js';
import type {LwwObject} from '../src/testing/types.js';

test('createRandom() - the same seed gives the same sequence, and uuids are version 4', () => {
	const a = createRandom(9);
	const b = createRandom(9);
	const c = createRandom(10);
	const sequence = [a.next(), a.next(), a.uuid()];
	expect([b.next(), b.next(), b.uuid()]).toEqual(sequence);
	expect(c.next()).not.toBe(sequence[0]);
	fc.assert(
		fc.property(fc.integer(), seed => {
			const random = createRandom(seed);
			const value = random.between(3, 7);
			expect(value).toBeGreaterThanOrEqual(3);
			expect(value).toBeLessThan(7);
			expect(random.uuid()).toMatch(/^[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}$/);
		}),
	);
});

test('FixedWindowLimiter - a window admits `limit` requests per key, refuses the rest and reopens after `interval`', () => {
	let now = 1000;
	const limiter = new FixedWindowLimiter(2, 60_000, () => now);
	expect(rateLimitHeader(limiter.take('a'))).toBe('limit=2, remaining=1, reset=60');
	now += 500;
	expect(limiter.take('a')).toMatchObject({allowed: true, remaining: 0});
	expect(limiter.take('b')).toMatchObject({allowed: true, remaining: 1});
	now += 30_000;
	const refused = limiter.take('a');
	expect(refused).toMatchObject({allowed: false, remaining: 0, resetMs: 29_500});
	expect(rateLimitHeader(refused)).toBe('limit=2, remaining=0, reset=30');
	now = 61_000;
	expect(limiter.take('a')).toMatchObject({allowed: true, remaining: 1, resetMs: 60_000});
});

const word = fc.stringMatching(/^[a-z][a-z ]{0,12}[a-z]$/);
const markdownBlock = fc.oneof(
	word,
	fc.tuple(fc.integer({min: 1, max: 4}), word).map(([level, text]) => `${'#'.repeat(level)} ${text}`),
	word.map(text => `- ${text}`),
	word.map(text => `1. ${text}`),
	word.map(text => `\`\`\`js\n${text}\n\`\`\``),
	word.map(text => `$$\n${text}\n$$`),
	fc.constant('---'),
);

test('markdown - export after import gives back the document (headings, lists, code, math, rules, paragraphs)', () => {
	fc.assert(
		fc.property(fc.array(markdownBlock, {minLength: 1, maxLength: 8}), parts => {
			const markdown = parts.join('\n\n');
			const blocks = parseBlocks(markdownToBlocks(markdown), 'markdown', createRandom(1), new Set());
			expect(blocks).toHaveLength(parts.length);
			expect(blocksToMarkdown(blocks)).toBe(markdown);
		}),
	);
});

function page(random = createRandom(3)): LwwObject {
	const text = (value: string) => ({type: 'TextBlock', tokens: [{type: 'TextToken', text: value}]});
	return {
		id: random.uuid(),
		structureId: 'RootPage',
		properties: {},
		collections: [],
		blocks: {
			content: parseBlocks(
				[text('a'), {type: 'GroupBlock', blocks: [text('b')]}, {type: 'GridBlock', columns: [[text('c')], [text('d')]]}],
				'blocks',
				random,
				new Set(),
			),
		},
		createdAt: '2024-01-01T00:00:00.000Z',
		lastUpdated: '2024-01-01T00:00:00.000Z',
	};
}

test('appendBlocks() - any sequence of appends keeps every block exactly once with unique ids', () => {
	const position = fc.constantFrom('end', 'start', 'after', 'parent');
	fc.assert(
		fc.property(fc.array(fc.tuple(position, fc.nat()), {maxLength: 12}), steps => {
			const random = createRandom(5);
			const object = page(random);
			let expected = blockIds(object).size;
			for (const [where, pick] of steps) {
				const ids = [...blockIds(object)];
				const anchor = ids[pick % ids.length]!;
				const isContainer = ['TextBlock', 'GroupBlock'].includes(findBlock(object, anchor)!.block.type);
				const blocks = parseBlocks([{type: 'TextBlock'}], 'blocks', random, blockIds(object));
				if (where === 'after') {
					appendBlocks(object, blocks, {propertyId: undefined, parentBlockId: undefined, position: {type: 'after_block', blockId: anchor}});
				} else if (where === 'parent' && isContainer) {
					appendBlocks(object, blocks, {propertyId: undefined, parentBlockId: anchor, position: {type: 'end'}});
				} else {
					appendBlocks(object, blocks, {propertyId: undefined, parentBlockId: undefined, position: {type: where === 'start' ? 'start' : 'end'}});
				}

				expected++;
				expect(findBlock(object, blocks[0]!.id)).toBeDefined();
			}

			const all = JSON.stringify(object.blocks).match(/"id":"[^"]+"/g) ?? [];
			expect(all).toHaveLength(expected);
			expect(new Set(all).size).toBe(expected);
		}),
	);
});

test('deleteBlock() - removes a block from a grid column and fails for unknown ids', () => {
	const object = page();
	const column = object.blocks.content?.[2]?.columns?.[1];
	const target = column?.[0]?.id ?? '';
	deleteBlock(object, target);
	expect(column).toEqual([]);
	expect(() => {
		deleteBlock(object, target);
	}).toThrow(`Block ${target} not found in object ${object.id}`);
});
