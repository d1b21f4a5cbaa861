import fc from 'fast-check';
import {expect, test} from 'vitest';
import {createLanes, type LaneContext} from '../src/index.js';
import {conflicts, expectedCounts, type Mode, observedCounts} from './fuzz-model.js';
import {type Deferred, deferred, flush, type Outcome, track} from './helpers.js';

/*
A model-checked schedule: fast-check picks operations (read or write, one or two keys from a small
key tree, with or without a signal, synchronous or held open), aborts some of them, decides which
running task finishes next and when the engine gets to catch up, and toggles an event listener (so
plain writes switch between the segment path and the general path). The model knows only the spec:
two operations conflict when they share a key, an ancestor or a descendant and one of them is a
write (in 'parallel' mode reads conflict with nothing).
*/

const keyPool = ['a', 'a/b', 'a/c', 'a/b/d', 'b'] as const;

type Submit = {
	readonly type: 'submit';
	readonly kind: 'read' | 'write';
	readonly keys: readonly string[];
	/** Pass a single key as a string rather than a one-element array. */
	readonly asString: boolean;
	readonly signal: boolean;
	readonly sync: boolean;
	readonly fail: boolean;
};
type Command =
	| Submit
	| {readonly type: 'abort'; readonly pick: number}
	| {readonly type: 'settle'; readonly pick: number; readonly fail: boolean}
	| {readonly type: 'flush'}
	| {readonly type: 'listen'};

/** True with probability 1/`oneIn`. */
const rarely = (oneIn: number) => fc.nat(oneIn - 1).map(value => value === 0);
const keyArbitrary = fc.constantFrom(...keyPool);

// Biased towards plain single-key writes, the segment path, so runs of them meet the other paths often.
const submitArbitrary: fc.Arbitrary<Command> = fc.record({
	type: fc.constant('submit' as const),
	kind: fc.constantFrom('read' as const, 'write' as const, 'write' as const),
	keys: fc.oneof({arbitrary: keyArbitrary.map(key => [key]), weight: 3}, {arbitrary: fc.array(keyArbitrary, {minLength: 2, maxLength: 2}), weight: 1}),
	asString: fc.boolean(),
	signal: rarely(4),
	sync: rarely(5),
	fail: rarely(4),
});

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
	{arbitrary: submitArbitrary, weight: 5},
	{arbitrary: fc.record({type: fc.constant('settle' as const), pick: fc.nat(), fail: fc.boolean()}), weight: 4},
	{arbitrary: fc.record({type: fc.constant('abort' as const), pick: fc.nat()}), weight: 1},
	{arbitrary: fc.constant({type: 'flush' as const}), weight: 2},
	{arbitrary: fc.constant({type: 'listen' as const}), weight: 1},
);

type Op = {
	readonly index: number;
	readonly kind: 'read' | 'write';
	readonly keys: readonly string[];
	readonly sync: boolean;
	readonly fail: boolean;
	readonly controller: AbortController | undefined;
	readonly gate: Deferred<unknown>;
	readonly error: Error;
	starts: number;
	startSeq: number;
	ended: boolean;
	abortedBeforeStart: boolean;
	abortReason: unknown;
	/** Tasks that had ended when this one was submitted, and when it started. */
	endsAtSubmit: number;
	endsAtStart: number;
	/** Its gate was resolved or rejected (it ends a few microtasks later). */
	released: boolean;
	failedWhileRunning: boolean;
	result: {outcome: Outcome};
};

async function runSchedule(mode: Mode, commands: readonly Command[]): Promise<void> {
	const lanes = createLanes({reads: mode});
	const ops: Op[] = [];
	const running: Op[] = [];
	const violations: string[] = [];
	let startSeq = 0;
	let ends = 0;
	let unsubscribe: (() => void) | undefined;

	const end = (op: Op) => {
		op.ended = true;
		ends++;
		running.splice(running.indexOf(op), 1);
	};

	const taskFor = (op: Op) => (context: LaneContext) => {
		op.starts++;
		op.startSeq = startSeq++;
		op.endsAtStart = ends;
		if (op.abortedBeforeStart) {
			violations.push(`op ${op.index} started after it was aborted while queued`);
		}

		if (context.kind !== op.kind) {
			violations.push(`op ${op.index} got kind ${context.kind}`);
		}

		for (const other of running) {
			if (conflicts(mode, op, other)) {
				violations.push(`op ${op.index} (${op.kind} ${op.keys.join('+')}) overlaps op ${other.index} (${other.kind} ${other.keys.join('+')})`);
			}
		}

		running.push(op);
		if (op.sync) {
			end(op);
			if (op.fail) {
				throw op.error;
			}

			return `value ${op.index}`;
		}

		return op.gate.promise.finally(() => {
			end(op);
		});
	};

	/** Done as far as later operations are concerned: ended, or aborted and past everything it waited for. */
	const done = (op: Op, memo: Map<Op, boolean>): boolean => {
		let value = memo.get(op);
		if (value === undefined) {
			value = op.abortedBeforeStart ? ops.slice(0, op.index).every(earlier => !conflicts(mode, earlier, op) || done(earlier, memo)) : op.ended;
			memo.set(op, value);
		}

		return value;
	};

	/** After the engine caught up: nothing waits without a reason, and stats() agree with the model. */
	const checkQuiescent = () => {
		const memo = new Map<Op, boolean>();
		for (const op of ops) {
			if (op.starts === 0 && !op.abortedBeforeStart) {
				const blocked = ops.slice(0, op.index).some(earlier => conflicts(mode, earlier, op) && !done(earlier, memo));
				if (!blocked) {
					violations.push(`op ${op.index} (${op.kind} ${op.keys.join('+')}) waits although nothing before it conflicts`);
				}
			}
		}

		const queued = ops.filter(op => op.starts === 0 && !op.abortedBeforeStart);
		const active = ops.filter(op => op.starts > 0 && !op.ended);
		const seen = JSON.stringify(observedCounts(lanes.stats()));
		const model = JSON.stringify(expectedCounts(queued, active));
		if (seen !== model) {
			violations.push(`stats ${seen} != model ${model}`);
		}
	};

	for (const command of commands) {
		switch (command.type) {
			case 'submit': {
				const keys = [...new Set(command.keys)];
				const op: Op = {
					index: ops.length,
					kind: command.kind,
					keys,
					sync: command.sync,
					fail: command.fail,
					controller: command.signal ? new AbortController() : undefined,
					gate: deferred<unknown>(),
					error: new Error(`op ${ops.length} failed`),
					starts: 0,
					startSeq: -1,
					ended: false,
					abortedBeforeStart: false,
					abortReason: undefined,
					endsAtSubmit: ends,
					endsAtStart: -1,
					released: false,
					failedWhileRunning: false,
					result: {outcome: {status: 'pending'}},
				};
				ops.push(op);
				const laneKeys = command.asString && command.keys.length === 1 ? command.keys[0]! : command.keys;
				const options = op.controller ? {signal: op.controller.signal} : undefined;
				op.result = track(op.kind === 'write' ? lanes.write(laneKeys, taskFor(op), options) : lanes.read(laneKeys, taskFor(op), options));
				break;
			}

			case 'abort': {
				const abortable = ops.filter(op => op.controller && !op.controller.signal.aborted);
				const op = abortable[command.pick % Math.max(abortable.length, 1)];
				if (op) {
					op.abortReason = {reason: `abort ${op.index}`};
					op.abortedBeforeStart = op.starts === 0;
					op.controller!.abort(op.abortReason);
				}

				break;
			}

			case 'settle': {
				const open = running.filter(op => !op.sync && !op.released);
				const op = open[command.pick % Math.max(open.length, 1)];
				if (op) {
					op.released = true;
					if (command.fail) {
						op.failedWhileRunning = true;
						op.gate.reject(op.error);
					} else {
						op.gate.resolve(`value ${op.index}`);
					}
				}

				break;
			}

			case 'flush': {
				await flush();
				checkQuiescent();
				break;
			}

			case 'listen': {
				if (unsubscribe) {
					unsubscribe();
					unsubscribe = undefined;
				} else {
					unsubscribe = lanes.on('*', () => undefined);
				}

				break;
			}
		}
	}

	// Drain: finish whatever runs, oldest first, until nothing runs.
	for (;;) {
		await flush();
		checkQuiescent();
		const next = running.find(op => !op.sync && !op.released);
		if (next === undefined) {
			break;
		}

		next.released = true;
		next.gate.resolve(`value ${next.index}`);
	}

	const idle = track(lanes.onIdle());
	await flush();

	for (const op of ops) {
		const {outcome} = op.result;
		if (op.abortedBeforeStart) {
			if (op.starts !== 0 || outcome.status !== 'rejected' || outcome.reason !== op.abortReason) {
				violations.push(`op ${op.index} aborted while queued: started ${op.starts} times, outcome ${outcome.status}`);
			}

			continue;
		}

		if (op.starts !== 1) {
			violations.push(`op ${op.index} started ${op.starts} times`);
		}

		const failed = op.sync ? op.fail : op.failedWhileRunning;
		const expected = failed ? {status: 'rejected', reason: op.error} : {status: 'fulfilled', value: `value ${op.index}`};
		const actual = outcome.status === 'rejected' ? {status: outcome.status, reason: outcome.reason} : outcome;
		if (actual.status !== expected.status || (failed ? (actual as {reason: unknown}).reason !== op.error : (actual as {value: unknown}).value !== expected.value)) {
			violations.push(`op ${op.index} settled ${JSON.stringify(actual)}`);
		}

		if (mode === 'parallel' && op.kind === 'read' && op.endsAtStart !== op.endsAtSubmit) {
			violations.push(`read ${op.index} waited for another operation to end`);
		}
	}

	// FIFO: conflicting operations start in submission order.
	for (const [i, first] of ops.entries()) {
		for (const second of ops.slice(i + 1)) {
			if (first.starts > 0 && second.starts > 0 && conflicts(mode, first, second) && first.startSeq > second.startSeq) {
				violations.push(`op ${second.index} started before the earlier conflicting op ${first.index}`);
			}
		}
	}

	expect(violations).toEqual([]);
	expect(idle.outcome.status).toBe('fulfilled');
	expect(lanes.stats()).toEqual({active: 0, queued: 0, waitingForSlot: 0, lanes: []});
	unsubscribe?.();
}

test.each(['parallel', 'shared'] as const)(
	"lanes (reads: '%s') - random schedules: no conflicting overlap, FIFO among conflicts, no needless waiting, everything runs once, ends idle",
	async mode => {
		await fc.assert(
			fc.asyncProperty(fc.array(commandArbitrary, {minLength: 1, maxLength: 60, size: 'max'}), async commands => {
				await runSchedule(mode, commands);
			}),
			{numRuns: 300},
		);
	},
);
