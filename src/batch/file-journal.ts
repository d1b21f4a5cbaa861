/*
The batch journal as an append-only file (Node only: the CLI's `--journal FILE`).

Format: a header line, then one JSON string per acknowledged operation:
	{"writelane":"journal","version":1}
	"id:p-17"
	"#42:9c1e…"
Appends are group-committed: entries arriving while a flush runs go out together in the next write,
followed by one fdatasync, and each `append()` resolves only after the flush that carried it. A crash
can therefore leave at most a torn last line, which was never acknowledged; opening cuts it off.
*/
import {constants} from 'node:fs';
import {type FileHandle, open} from 'node:fs/promises';
import {dirname} from 'node:path';
import type {BatchJournal} from './journal.js';

const header = '{"writelane":"journal","version":1}';

type Waiter = {resolve: () => void; reject: (reason: unknown) => void};

/** A journal file, open for appending. */
export class FileJournal implements BatchJournal {
	readonly path: string;
	readonly #handle: FileHandle;
	readonly #entries: Set<string>;
	#lines: string[] = [];
	#waiters: Waiter[] = [];
	#flushing: Promise<void> | undefined;
	#failed: {error: unknown} | undefined;
	#closed = false;

	constructor(path: string, handle: FileHandle, entries: Set<string>) {
		this.path = path;
		this.#handle = handle;
		this.#entries = entries;
	}

	/** Entries recorded, by earlier runs and this one. */
	get size(): number {
		return this.#entries.size;
	}

	has(entry: string): boolean {
		return this.#entries.has(entry);
	}

	append(entry: string): Promise<void> {
		if (this.#closed) {
			return Promise.reject(new Error(`The journal ${this.path} is closed`));
		}

		if (this.#failed) {
			return Promise.reject(this.#failed.error);
		}

		if (this.#entries.has(entry)) {
			return Promise.resolve();
		}

		this.#entries.add(entry);
		this.#lines.push(`${JSON.stringify(entry)}\n`);
		const done = new Promise<void>((resolve, reject) => {
			this.#waiters.push({resolve, reject});
		});
		this.#flushing ??= this.#flush();
		return done;
	}

	/** Waits for pending appends, then closes the file. */
	async close(): Promise<void> {
		if (this.#closed) {
			return;
		}

		this.#closed = true;
		await this.#flushing;
		await this.#handle.close();
	}

	async #flush(): Promise<void> {
		while (this.#lines.length > 0) {
			const text = this.#lines.join('');
			const waiters = this.#waiters;
			this.#lines = [];
			this.#waiters = [];
			try {
				await this.#handle.appendFile(text);
				await this.#handle.datasync();
				for (const waiter of waiters) {
					waiter.resolve();
				}
			} catch (error) {
				// The file may now end in a partial line: nothing more is appended after it.
				this.#failed = {error};
				for (const waiter of [...waiters, ...this.#waiters]) {
					waiter.reject(error);
				}

				this.#lines = [];
				this.#waiters = [];
			}
		}

		this.#flushing = undefined;
	}
}

/** Flushes the directory entry of a new file, where the platform allows opening a directory. */
async function syncDirectory(path: string): Promise<void> {
	let directory: FileHandle | undefined;
	try {
		directory = await open(dirname(path), constants.O_RDONLY);
		await directory.sync();
	} catch {
		// Windows cannot open a directory; its file system orders metadata itself.
	} finally {
		await directory?.close().catch(() => undefined);
	}
}

function corrupt(path: string, line: number, why: string): Error {
	return new Error(`${path} line ${line}: ${why}; is it a writelane journal? (delete it to start the batch over)`);
}

/**
Opens (or creates) the journal at `path` and reads what earlier runs recorded. A torn last line
(a crash mid-write) is cut off; any other line that is not an entry is an error, so a wrong path
(the operations file itself, say) is never appended to.
*/
export async function openFileJournal(path: string): Promise<FileJournal> {
	const handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o644);
	try {
		const text = await handle.readFile('utf8');
		const entries = new Set<string>();
		const complete = text.lastIndexOf('\n') + 1;
		if (complete === 0 && header.startsWith(text)) {
			// New, or a crash while the header was being written.
			await handle.truncate(0);
			await handle.appendFile(`${header}\n`);
			await handle.datasync();
			await syncDirectory(path);
			return new FileJournal(path, handle, entries);
		}

		const lines = text.slice(0, complete).split('\n');
		lines.pop();
		if (lines[0] !== header) {
			throw corrupt(path, 1, 'not a journal header');
		}

		for (let index = 1; index < lines.length; index++) {
			let entry: unknown;
			try {
				entry = JSON.parse(lines[index]!);
			} catch {
				entry = undefined;
			}

			if (typeof entry !== 'string') {
				throw corrupt(path, index + 1, 'not a journal entry');
			}

			entries.add(entry);
		}

		if (complete < text.length) {
			// The torn tail of a write that never finished: it acknowledged nothing.
			await handle.truncate(Buffer.byteLength(text.slice(0, complete)));
			await handle.datasync();
		}

		return new FileJournal(path, handle, entries);
	} catch (error) {
		await handle.close();
		throw error;
	}
}
