// A contender that is not exclusive and FIFO per key would win the benchmark by cheating, so each
// one is checked on a fresh instance before it is timed, and refused if it fails.

const microtasks = async (count) => {
	for (let i = 0; i < count; i++) {
		await null;
	}
};
const macrotask = () => new Promise((resolve) => setImmediate(resolve));

/** Writes suspend in different ways so that a hand-off bug has a chance to show. */
function pause(seq) {
	switch (seq % 4) {
		case 0:
			return undefined;
		case 1:
			return microtasks(1);
		case 2:
			return microtasks(5);
		default:
			return macrotask();
	}
}

/**
 * Runs `keys x perKey` writes round-robin plus one deep key, and returns the problems found:
 * overlapping writes on one key, writes out of submission order, wrong results, a rejection
 * that stalls or leaks into the next write, keys that never ran in parallel, and per-key state
 * left behind after the drain.
 */
export async function checkExclusiveFifo(contender, {keys = 20, perKey = 30, deep = 1000} = {}) {
	const lanes = await contender.create();
	const problems = [];
	const report = (problem) => {
		if (problems.length < 10) {
			problems.push(problem);
		}
	};
	const running = new Set();
	const started = new Map();
	let parallelSeen = 0;
	const failing = new Error('planned failure');
	const pending = [];

	const submit = (key, seq) => {
		const write = async () => {
			if (running.has(key)) {
				report(`overlap on ${key}: write #${seq} started while another write of that key was running`);
			}
			running.add(key);
			parallelSeen = Math.max(parallelSeen, running.size);
			const position = started.get(key) ?? 0;
			if (position !== seq) {
				report(`order on ${key}: write #${seq} started as #${position}`);
			}
			started.set(key, position + 1);
			try {
				await pause(seq);
				if (seq === 7) {
					throw failing;
				}
				return `${key}:${seq}`;
			} finally {
				running.delete(key);
			}
		};
		pending.push(
			lanes.write(key, write).then(
				(value) => {
					if (seq === 7 || value !== `${key}:${seq}`) {
						report(`result on ${key}: write #${seq} settled with ${String(value)}`);
					}
				},
				(error) => {
					if (seq !== 7 || error !== failing) {
						report(`result on ${key}: write #${seq} rejected with ${String(error)}`);
					}
				},
			),
		);
	};

	for (let seq = 0; seq < Math.max(perKey, deep); seq++) {
		if (seq < perKey) {
			for (let key = 0; key < keys; key++) {
				submit(`check-${key}`, seq);
			}
		}
		if (seq < deep) {
			submit('check-deep', seq);
		}
	}
	await Promise.all(pending);
	await lanes.drain();

	for (let key = 0; key < keys; key++) {
		const ran = started.get(`check-${key}`) ?? 0;
		if (ran !== perKey) {
			report(`lost writes on check-${key}: ${ran} of ${perKey} ran`);
		}
	}
	if ((started.get('check-deep') ?? 0) !== deep) {
		report(`lost writes on check-deep: ${started.get('check-deep') ?? 0} of ${deep} ran`);
	}
	if (parallelSeen < 2) {
		report('different keys never ran at the same time');
	}
	const live = lanes.liveKeys();
	if (live !== 0) {
		report(`${live} keys still held after every write settled`);
	}
	return problems;
}
