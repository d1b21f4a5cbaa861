// The browser test's page script: the workload against the reference server behind the page's origin.
import * as kySubpath from '../../src/ky.js';
import {runWorkload, type WorkloadOutcome, type WorkloadPlan, writelane} from '../runtimes/workload.js';

export type PagePlan = Omit<WorkloadPlan, 'base'>;

async function runLanes(plan: PagePlan): Promise<WorkloadOutcome> {
	return runWorkload({...plan, base: location.origin});
}

// The core's namespaces (`writelane`, `writelane/ky`) go on the page too, so none of their exports is
// tree-shaken out of the bundle.
Object.assign(globalThis, {runLanes, writelane, kySubpath});
