import {defineConfig} from 'vitest/config';

export default defineConfig({
	test: {
		include: ['test/**/*.test.ts'],
		// A JSON summary beside the console output, for CI's closing line.
		reporters: ['default', ['json', {outputFile: 'test-results.json'}]],
	},
});
