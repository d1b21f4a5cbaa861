import {spawn} from 'node:child_process';
import {fileURLToPath} from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** How a child process ended: its exit code, and what it printed (apart and interleaved). */
export type NodeRun = {readonly code: number | null; readonly stdout: string; readonly stderr: string; readonly output: string};

/**
Runs `node ...args` in the project root and resolves once it exits. It must end on its own: a
script that leaves a server, a socket or a timer behind times its test out.
*/
export function runNode(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<NodeRun> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, args, {cwd: root, env, stdio: ['ignore', 'pipe', 'pipe']});
		let stdout = '';
		let stderr = '';
		let output = '';
		child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
			stdout += chunk;
			output += chunk;
		});
		child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
			stderr += chunk;
			output += chunk;
		});
		child.on('error', reject);
		child.on('close', code => {
			resolve({code, stdout, stderr, output});
		});
	});
}
