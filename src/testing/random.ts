/** A seeded pseudo-random source: same seed, same latencies, faults and ids. */
export type Random = {
	/** Uniform in [0, 1). */
	readonly next: () => number;
	/** Uniform in [min, max]. */
	readonly between: (min: number, max: number) => number;
	/** A version 4 UUID drawn from this source. */
	readonly uuid: () => string;
};

/**
A Weyl sequence passed through a 32-bit avalanche mix: cheap, stateless apart from one counter, and
good enough for test traffic (not for anything secret).
*/
export function createRandom(seed: number): Random {
	let state = seed >>> 0;
	const nextUint32 = (): number => {
		state = (state + 0x9e_37_79_b9) >>> 0;
		let z = state;
		z = Math.imul(z ^ (z >>> 16), 0x85_eb_ca_6b);
		z = Math.imul(z ^ (z >>> 13), 0xc2_b2_ae_35);
		return (z ^ (z >>> 16)) >>> 0;
	};

	const next = (): number => nextUint32() / 2 ** 32;
	const hex = (value: number): string => value.toString(16).padStart(8, '0');

	return {
		next,
		between: (min, max) => min + (max - min) * next(),
		uuid() {
			const a = hex(nextUint32());
			const b = hex(nextUint32());
			// Version nibble 4, variant bits 10xx.
			const c = hex(((nextUint32() & 0x0f_ff_3f_ff) | 0x40_00_80_00) >>> 0);
			const d = hex(nextUint32());
			return `${a}-${b.slice(0, 4)}-${c.slice(0, 4)}-${c.slice(4)}-${b.slice(4)}${d}`;
		},
	};
}
