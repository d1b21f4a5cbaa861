import {type ChildProcess, spawn} from 'node:child_process';
import {connect, createServer, type Socket} from 'node:net';
import {Redis, type RedisOptions} from 'ioredis';

/** A `redis-server` of the test's own on a loopback port, which the test may kill, restart and freeze. */
export type TestRedis = {
	readonly port: number;
	readonly pid: number;
	/** A new client; closed by `stop()` when the test forgets. */
	client(options?: RedisOptions): Redis;
	/** Stops the process at once (SIGKILL: nothing is saved, nothing is kept). */
	kill(): Promise<void>;
	/** Starts it again, empty, on the same port. */
	start(): Promise<void>;
	/** SIGSTOP / SIGCONT: the process keeps its connections but answers nothing. */
	pause(): void;
	resume(): void;
	/** Kills the server and disconnects every client made here. */
	stop(): Promise<void>;
};

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			server.close(() => {
				if (typeof address === 'object' && address !== null) {
					resolve(address.port);
				} else {
					reject(new Error('no port'));
				}
			});
		});
	});
}

function launch(port: number): Promise<ChildProcess> {
	return new Promise((resolve, reject) => {
		const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''], {
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let output = '';
		const onData = (chunk: string) => {
			output += chunk;
			if (output.includes('Ready to accept connections')) {
				child.stdout?.off('data', onData);
				child.stdout?.resume();
				resolve(child);
			}
		};

		child.stdout?.setEncoding('utf8').on('data', onData);
		child.stderr?.resume();
		child.once('error', (error: NodeJS.ErrnoException) => {
			reject(
				error.code === 'ENOENT'
					? new Error('redis-server is not on PATH: the Redis tests need it (apt-get install redis-server)', {cause: error})
					: error,
			);
		});
		child.once('exit', code => {
			reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`));
		});
	});
}

function exited(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) {
		return Promise.resolve();
	}

	return new Promise(resolve => {
		child.once('exit', () => {
			resolve();
		});
	});
}

/** Starts a fresh `redis-server` (no persistence) on a free loopback port; fails when it is missing. */
export async function startRedis(): Promise<TestRedis> {
	let port = 0;
	let child: ChildProcess | undefined;
	for (let attempt = 0; child === undefined; attempt++) {
		port = await freePort();
		try {
			child = await launch(port);
		} catch (error) {
			// Another process may have taken the port in between; anything else is fatal.
			if (attempt >= 3 || !(error instanceof Error) || !error.message.includes('exited')) {
				throw error;
			}
		}
	}

	const clients: Redis[] = [];
	let current: ChildProcess = child;
	const redis: TestRedis = {
		port,
		get pid() {
			return current.pid!;
		},
		client(options = {}) {
			const client = new Redis({port, host: '127.0.0.1', lazyConnect: false, ...options});
			client.on('error', () => undefined);
			clients.push(client);
			return client;
		},
		async kill() {
			current.kill('SIGKILL');
			await exited(current);
		},
		async start() {
			current = await launch(port);
		},
		pause() {
			current.kill('SIGSTOP');
		},
		resume() {
			current.kill('SIGCONT');
		},
		async stop() {
			for (const client of clients) {
				client.disconnect();
			}

			current.kill('SIGCONT');
			current.kill('SIGKILL');
			await exited(current);
		},
	};
	return redis;
}

/** A TCP proxy in front of Redis whose traffic can be held back both ways: a network partition for its clients only. */
export type Partition = {
	readonly port: number;
	/** Holds every byte in both directions (or only Redis's replies); connections stay open. */
	cut(direction?: 'both' | 'replies'): void;
	/** Delivers what was held and lets traffic flow again. */
	heal(): void;
	/** Resolves once some traffic is being held back. */
	holding(): Promise<void>;
	close(): Promise<void>;
};

export async function partitionable(redisPort: number): Promise<Partition> {
	let cut: 'both' | 'replies' | false = false;
	const held: Array<() => void> = [];
	let onHold: (() => void) | undefined;
	const sockets = new Set<Socket>();
	const forward = (from: Socket, to: Socket, replies: boolean) => {
		from.on('data', (chunk: Buffer) => {
			if (cut === 'both' || (cut === 'replies' && replies)) {
				held.push(() => to.write(chunk));
				onHold?.();
				onHold = undefined;
			} else {
				to.write(chunk);
			}
		});
		from.on('close', () => to.destroy());
		from.on('error', () => to.destroy());
	};

	const server = createServer(socket => {
		const upstream = connect(redisPort, '127.0.0.1');
		sockets.add(socket).add(upstream);
		forward(socket, upstream, false);
		forward(upstream, socket, true);
	});
	await new Promise<void>(resolve => {
		server.listen(0, '127.0.0.1', resolve);
	});
	const address = server.address();
	return {
		port: typeof address === 'object' && address !== null ? address.port : 0,
		cut(direction = 'both') {
			cut = direction;
		},
		async holding() {
			if (held.length === 0) {
				await new Promise<void>(resolve => {
					onHold = resolve;
				});
			}
		},
		heal() {
			cut = false;
			for (const write of held.splice(0)) {
				write();
			}
		},
		async close() {
			for (const socket of sockets) {
				socket.destroy();
			}

			await new Promise<void>(resolve => {
				server.close(() => {
					resolve();
				});
			});
		},
	};
}
