export type {BatchJournal} from './journal.js';
export type {BatchOperation} from './operation.js';
export {
	type BatchLaneSummary,
	type BatchOptions,
	type BatchOutcome,
	type BatchResult,
	type BatchSummary,
	runBatch,
} from './run.js';
