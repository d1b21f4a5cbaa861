// What the benchmark scripts share: loading the built package and a seeded random generator.

/**
 * Imports `file` from the built package (`dist/` beside this folder, or `base`), or exits with a
 * message saying how to build it.
 */
export async function loadDist(file = 'index.js', {base = new URL('../dist/', import.meta.url).href, script = 'npm run bench'} = {}) {
	try {
		return await import(new URL(file, base).href);
	} catch {
		console.error(`${new URL(file, base).pathname} is missing: run \`npm run build\` first (\`${script}\` does).`);
		process.exit(1);
	}
}

/** Mulberry32: a small seeded generator in [0, 1), so a run repeats with its seed. */
export function seeded(seed) {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d_2b_79_f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}
