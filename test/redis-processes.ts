import {type ChildProcess, spawn} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Bundles test/redis-worker.ts (our sources included, packages left to node_modules) and returns its path. */
export async function bundleWorker(): Promise<string> {
	const outfile = `${root}node_modules/.cache/writelane-test/redis-worker.mjs`;
	await build({
		entryPoints: [`${root}test/redis-worker.ts`],
		bundle: true,
		platform: 'node',
		format: 'esm',
		target: 'node20',
		packages: 'external',
		outfile,
		logLevel: 'error',
	});
	return outfile;
}

export type WorkerMessage = {readonly type: string; readonly [field: string]: unknown};

/** A child process running the worker, with its messages as a log the test can wait on. */
export class Worker {
	readonly name: string;
	readonly child: ChildProcess;
	readonly messages: WorkerMessage[] = [];
	readonly exited: Promise<number | null>;
	stderr = '';
	#waiters: Array<() => void> = [];

	constructor(file: string, job: {readonly name: string; readonly [field: string]: unknown}, onMessage?: (worker: Worker, message: WorkerMessage) => void) {
		this.name = job.name;
		this.child = spawn(process.execPath, [file, JSON.stringify(job)], {cwd: root, stdio: ['ignore', 'inherit', 'pipe', 'ipc']});
		this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
			this.stderr += chunk;
		});
		this.child.on('message', (message: WorkerMessage) => {
			this.messages.push(message);
			onMessage?.(this, message);
			for (const wake of this.#waiters.splice(0)) {
				wake();
			}
		});
		this.exited = new Promise(resolve => {
			this.child.on('exit', code => {
				for (const wake of this.#waiters.splice(0)) {
					wake();
				}

				resolve(code);
			});
		});
	}

	/** Takes the first message of `type` (already received or to come); rejects if the process ends first. */
	async next(type: string): Promise<WorkerMessage> {
		for (;;) {
			const index = this.messages.findIndex(message => message.type === type);
			if (index >= 0) {
				return this.messages.splice(index, 1)[0]!;
			}

			if (this.child.exitCode !== null || this.child.signalCode !== null) {
				throw new Error(`worker ${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) without sending ${type}:\n${this.stderr}`);
			}

			await new Promise<void>(resolve => {
				this.#waiters.push(resolve);
			});
		}
	}

	send(message: object): void {
		this.child.send(message);
	}
}
