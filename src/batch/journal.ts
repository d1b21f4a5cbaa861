/**
Where a batch records the operations the server acknowledged, so that a later run of the same batch
skips them. Entries are short strings naming an operation (its `id`, or its position and a content
hash; never headers or bodies). The Node CLI keeps them in an append-only file (`--journal FILE`); any
store with these two methods will do.
*/
export type BatchJournal = {
	/** Whether `entry` was recorded (by an earlier run, or earlier in this one). */
	has(entry: string): boolean | Promise<boolean>;
	/**
	Records `entry`; resolves once it is durable (written and flushed to stable storage). `runBatch()`
	awaits it while the operation still holds its lane, so the next operation of that lane never
	starts before its predecessor is on record. A rejection stops the batch.
	*/
	append(entry: string): Promise<void>;
};

/** Checks the `journal` option's shape. */
export function isJournal(value: unknown): value is BatchJournal {
	return typeof (value as BatchJournal | null)?.has === 'function' && typeof (value as BatchJournal | null)?.append === 'function';
}
