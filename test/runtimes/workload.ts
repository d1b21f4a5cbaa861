// The workload the runtime tests run outside Node (a Chromium page, Deno, Bun), bundled by esbuild
// without Node's built-ins: the whole public core is imported, so a Node-only import anywhere in it
// fails the bundle.
import * as writelane from '../../src/index.js';

/** What a runtime is asked to do against the reference server at `base`. */
export type WorkloadPlan = {
	readonly base: string;
	readonly token: string;
	readonly ids: readonly string[];
	/** Block appends per object, `seq-1` … `seq-n`, each through `lanes.fetch`. */
	readonly appends: number;
	/** Read-modify-write increments of the `counter` property per object. */
	readonly increments: number;
	/** `false`: the same calls with the runtime's plain `fetch`, no lanes (the control). */
	readonly useLanes: boolean;
};

export type WorkloadOutcome = {
	readonly userAgent: string;
	/** Whether Node's `process` or `Buffer` globals exist (they must not be needed: a browser has neither). */
	readonly nodeGlobals: boolean;
	readonly statuses: readonly number[];
	readonly lanesLeft: number;
};

type Editable = {id: string; properties: {counter: {type: 'number'; number: number}}};

function incremented(object: Editable): Editable {
	return {id: object.id, properties: {counter: {type: 'number', number: object.properties.counter.number + 1}}};
}

export async function runWorkload(plan: WorkloadPlan): Promise<WorkloadOutcome> {
	const {base} = plan;
	const headers = {authorization: `Bearer ${plan.token}`, 'content-type': 'application/json'};
	const lanes = writelane.createLanes({keys: writelane.capacities()});
	const send = plan.useLanes ? lanes.fetch : (input: string, init?: RequestInit) => fetch(input, init);

	const append = async (id: string, text: string): Promise<number> => {
		const blocks = [{type: 'TextBlock', tokens: [{type: 'TextToken', text, style: {}}]}];
		const response = await send(`${base}/blocks/append`, {method: 'POST', headers, body: JSON.stringify({id, blocks})});
		await response.arrayBuffer();
		return response.status;
	};

	const increment = async (id: string): Promise<number> => {
		if (plan.useLanes) {
			const result = await lanes.update<Editable>(`${base}/object?id=${id}`, incremented, {method: 'PATCH', writeUrl: `${base}/object`, headers});
			return result.response.status;
		}

		const object = (await (await fetch(`${base}/object?id=${id}`, {headers})).json()) as Editable;
		const response = await fetch(`${base}/object`, {method: 'PATCH', headers, body: JSON.stringify(incremented(object))});
		await response.arrayBuffer();
		return response.status;
	};

	// Everything is submitted at once, interleaved across objects, in call order.
	const calls: Array<Promise<number>> = [];
	for (let step = 1; step <= Math.max(plan.appends, plan.increments); step++) {
		for (const id of plan.ids) {
			if (step <= plan.appends) {
				calls.push(append(id, `seq-${step}`));
			}

			if (step <= plan.increments) {
				calls.push(increment(id));
			}
		}
	}

	const statuses = await Promise.all(calls);
	await lanes.onIdle();
	const lanesLeft = lanes.stats().lanes.length;
	await lanes.close();
	return {userAgent: navigator.userAgent, nodeGlobals: 'process' in globalThis || 'Buffer' in globalThis, statuses, lanesLeft};
}

/** Every export of the core, so that a bundle of this module holds all of it. */
export {writelane};
