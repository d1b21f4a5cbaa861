import {createHash, randomUUID} from 'node:crypto';
import type {Redis} from 'ioredis';
import type {AcquireOptions, Lease, LockBackend} from '../core/backend.js';
import {clock, type TimerHandle} from '../core/clock.js';
import {invalid} from '../errors/describe.js';
import {defaults} from '../options.js';
import {canonicalKeys} from '../keys/key.js';
import {BackendError} from '../errors/errors.js';
import {formatKey} from '../errors/writelane-error.js';
import {enqueueScript, pollScript, releaseScript} from './redis-scripts.js';

export type RedisBackendOptions = {
	/**
	An ioredis client. The backend runs its scripts on it and never closes it: that stays yours.
	@example
	```
	import {Redis} from 'ioredis';
	const backend = redisBackend({client: new Redis(process.env.REDIS_URL)});
	```
	*/
	readonly client: Redis;
	/**
	Prefix of every Redis key and channel the backend uses. Processes that must exclude each other
	share it; use one per set of lanes that should not see each other.
	@default 'writelane:'
	*/
	readonly prefix?: string | undefined;
	/**
	How long a lease lives without renewal, in ms. A running operation's lease is renewed every
	`leaseMs / 3`, so this is how long a crashed (or frozen, or cut off) holder blocks its lane, and how
	long Redis may be unreachable before a running operation's signal aborts. Use one value for all
	processes that share a `prefix`.
	@default 10_000
	*/
	readonly leaseMs?: number | undefined;
	/**
	How long one Redis round trip may take, in ms, before the backend treats Redis as unreachable: an
	`acquire` that gets no answer in time rejects (the lane fails closed with `BackendError`).
	@default Math.min(2000, leaseMs / 2)
	*/
	readonly commandTimeout?: number | undefined;
	/**
	The connection that receives hand-off notifications (it is put in subscriber mode). By default the
	backend makes one with `client.duplicate()` and disconnects it on `close()`; one you pass stays yours.
	@default client.duplicate()
	*/
	readonly subscriber?: Redis | undefined;
	/**
	A Redis that restarted without its data has forgotten the leases it granted while their holders may
	still be working, so it grants nothing until it has been up for `leaseMs` (plus up to 2 s, the
	precision of its uptime). `false` turns that wait off: only for a Redis whose lock state survives a
	restart (`appendonly yes` with `appendfsync always`), or for tests with long leases.
	@default true
	*/
	readonly restartGrace?: boolean | undefined;
};

/** `redisBackend()`: a lock shared by every process that reaches one Redis. */
export type RedisBackend = LockBackend & {
	acquire(keys: readonly string[], options: AcquireOptions): Promise<Lease>;
	close(): Promise<void>;
};

type Mode = 'x' | 's' | 'i' | 'j';

/** Combined mode of a node a request needs twice (an s plus an i becomes x: strictly safer). */
function merge(a: Mode, b: Mode): Mode {
	if (a === b) {
		return a;
	}

	if (a === 'x' || b === 'x' || (a === 's' && b === 'i') || (a === 'i' && b === 's')) {
		return 'x';
	}

	return a === 's' || b === 's' ? 's' : 'i';
}

/** The tree nodes a request takes and in which mode: its keys, and every ancestor with an intent mode. */
function nodesOf(keys: readonly string[], kind: 'read' | 'write'): Array<[string, Mode]> {
	const modes = new Map<string, Mode>();
	const add = (node: string, mode: Mode) => {
		const current = modes.get(node);
		modes.set(node, current === undefined ? mode : merge(current, mode));
	};

	for (const key of keys) {
		add(key, kind === 'write' ? 'x' : 's');
		for (let slash = key.lastIndexOf('/'); slash > 0; slash = key.lastIndexOf('/', slash - 1)) {
			add(key.slice(0, slash), kind === 'write' ? 'i' : 'j');
		}
	}

	return [...modes];
}

const WAITING = 0;
const HELD = 1;
const DONE = 2;

class Request {
	readonly id: string;
	readonly keys: readonly string[];
	readonly spec: string;
	state = WAITING;
	/** Known once Redis answered the enqueue. */
	ticket = 0;
	/** A grant was announced before the enqueue's answer arrived. */
	announced = false;
	enqueued = false;
	polling = false;
	pollTimer: TimerHandle | undefined = undefined;
	deadline: TimerHandle | undefined = undefined;
	readonly controller = new AbortController();
	resolve!: (lease: Lease) => void;
	reject!: (reason: unknown) => void;
	signal: AbortSignal | undefined;
	onAbort: (() => void) | undefined = undefined;
	released: Promise<void> | undefined = undefined;
	/** Settles once the enqueue has been answered (or given up on): a release is sent only after it. */
	queued: Promise<unknown> = Promise.resolve();

	constructor(id: string, keys: readonly string[], spec: string) {
		this.id = id;
		this.keys = keys;
		this.spec = spec;
	}

	get key(): string | readonly string[] {
		return this.keys.length === 1 ? this.keys[0]! : this.keys;
	}
}

class Script {
	readonly source: string;
	readonly sha: string;

	constructor(source: string) {
		this.source = source;
		this.sha = createHash('sha1').update(source).digest('hex');
	}
}

const enqueue = new Script(enqueueScript);
const poll = new Script(pollScript);
const release = new Script(releaseScript);

/** How much earlier than Redis a holder counts its lease as gone, for clock-rate differences and delivery time. */
const safety = 0.1;

/**
A lock shared by every process that reaches one Redis, for `createLanes({backend})`.

- FIFO across processes: each request gets a ticket; conflicting requests are granted in ticket order.
- No polling: a release grants the next request inside the same script and publishes it on the
  waiter's channel; a waiter re-checks on its own only every `leaseMs / 3` (and when the lease that
  blocks it would expire), so a lost notification costs latency, never a stuck lane.
- Leases expire after `leaseMs` unless renewed; a running operation's lease is renewed every
  `leaseMs / 3`. When it is lost (Redis answered that it is gone, or no renewal got through in time)
  `lease.signal` aborts with a `BackendError`.
- Release is compare-and-delete (Lua) and idempotent.
- Fencing tokens grow with every grant, also across a Redis restart (they follow Redis's clock).
- Tree keys and multi-key requests keep the in-process semantics; nothing is left in Redis once a
  lane is idle (every key has a TTL, and is deleted when its last request leaves).

Needs Redis 7 or later, with `maxmemory-policy noeviction` (an evicted lock key is a lost lock).
*/
export function redisBackend(options: RedisBackendOptions): RedisBackend {
	if (typeof options !== 'object' || options === null) {
		throw invalid('options', 'an object', options);
	}

	const {
		client,
		prefix = defaults.redisBackend.prefix,
		leaseMs = defaults.redisBackend.leaseMs,
		subscriber: givenSubscriber,
		restartGrace = defaults.redisBackend.restartGrace,
	} = options;
	if (typeof client !== 'object' || client === null || typeof client.evalsha !== 'function' || typeof client.duplicate !== 'function') {
		throw invalid('client', 'an ioredis client', client);
	}

	if (typeof prefix !== 'string') {
		throw invalid('prefix', 'a string', prefix);
	}

	if (typeof leaseMs !== 'number' || !Number.isInteger(leaseMs) || leaseMs < 30 || leaseMs > 2_147_483_647) {
		throw invalid('leaseMs', 'an integer number of milliseconds from 30 to 2147483647', leaseMs);
	}

	const commandTimeout = options.commandTimeout ?? Math.min(defaults.redisBackend.maxCommandTimeout, Math.floor(leaseMs / 2));
	if (typeof commandTimeout !== 'number' || !Number.isInteger(commandTimeout) || commandTimeout < 1 || commandTimeout >= leaseMs) {
		throw invalid('commandTimeout', `an integer number of milliseconds from 1 to below \`leaseMs\` (${leaseMs})`, commandTimeout);
	}

	if (givenSubscriber !== undefined && (typeof givenSubscriber !== 'object' || givenSubscriber === null || typeof givenSubscriber.subscribe !== 'function')) {
		throw invalid('subscriber', 'an ioredis client', givenSubscriber);
	}

	if (typeof restartGrace !== 'boolean') {
		throw invalid('restartGrace', 'a boolean', restartGrace);
	}

	const owner = randomUUID();
	const channel = `${prefix}w:${owner}`;
	const renewEvery = Math.max(1, Math.floor(leaseMs / 3));
	const requests = new Map<string, Request>();
	let nextId = 0;
	let closed = false;
	let subscriber: Redis | undefined;
	let subscribed: Promise<void> | undefined;
	/** Subscribed (ioredis re-subscribes by itself after a reconnect). */
	let listening = false;

	/** Runs a script; with `timeout`, gives up (rejects) when Redis has not answered by then. */
	const call = (script: Script, args: readonly string[], timeout = true): Promise<unknown> => {
		const argv = [prefix, String(leaseMs), restartGrace ? '1' : '0', ...args];
		const run = async () => {
			try {
				return await client.evalsha(script.sha, 0, ...argv);
			} catch (error) {
				// Scripts are gone after a restart (or were never loaded): send the source once.
				if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
					return client.eval(script.source, 0, ...argv);
				}

				throw error;
			}
		};

		if (!timeout) {
			return run();
		}

		return new Promise((resolve, reject) => {
			const timer = clock.setTimeout(() => {
				reject(new BackendError(`Redis did not answer within ${commandTimeout} ms (\`commandTimeout\`)`));
			}, commandTimeout);
			run().then(
				value => {
					clock.clearTimeout(timer);
					resolve(value);
				},
				(error: unknown) => {
					clock.clearTimeout(timer);
					reject(error);
				},
			);
		});
	};

	const onMessage = (from: string, id: string) => {
		if (from !== channel) {
			return;
		}

		const request = requests.get(id);
		if (request?.state !== WAITING) {
			return;
		}

		if (request.enqueued) {
			grant(request);
		} else {
			request.announced = true;
		}
	};

	// After a reconnect, check every request at once: notifications may have been missed, and Redis
	// may have lost its state (a restart), which holders must learn as soon as possible.
	const onReady = () => {
		for (const request of requests.values()) {
			if (request.enqueued) {
				schedule(request, 0);
			}
		}
	};

	const ignore = () => undefined;

	/**
	Resolves once hand-off notifications arrive, or after `commandTimeout` in any case: without them a
	waiter still learns of its turn from its own checks, only later, and whether Redis is reachable at
	all is for the enqueue to tell.
	*/
	const subscribe = (): Promise<void> | undefined => {
		if (listening) {
			return undefined;
		}

		if (subscribed === undefined) {
			if (subscriber === undefined) {
				subscriber = givenSubscriber ?? client.duplicate();
				subscriber.on('message', onMessage);
				subscriber.on('ready', onReady);
				client.on('ready', onReady);
				if (givenSubscriber === undefined) {
					// Connection errors surface as failed calls; without a listener ioredis would log them.
					subscriber.on('error', ignore);
				}
			}

			const attempt = subscriber.subscribe(channel).then(() => {
				listening = true;
			});
			subscribed = attempt;
			attempt.catch(() => {
				// Retried by the next acquire.
				if (subscribed === attempt) {
					subscribed = undefined;
				}
			});
		}

		const current = subscribed;
		return new Promise<void>(resolve => {
			const timer = clock.setTimeout(resolve, commandTimeout);
			const done = () => {
				clock.clearTimeout(timer);
				resolve();
			};

			current.then(done, done);
		});
	};

	const stopTimers = (request: Request) => {
		clock.clearTimeout(request.pollTimer);
		clock.clearTimeout(request.deadline);
		request.pollTimer = undefined;
		request.deadline = undefined;
	};

	const detach = (request: Request) => {
		if (request.onAbort) {
			request.signal?.removeEventListener('abort', request.onAbort);
			request.onAbort = undefined;
		}
	};

	/** Removes the request from Redis (compare-and-delete), once; never rejects. */
	const remove = (request: Request): Promise<void> => {
		request.state = DONE;
		stopTimers(request);
		detach(request);
		requests.delete(request.id);
		// After the enqueue's answer: an enqueue retried as EVAL (scripts lost in a restart) must not land after it.
		request.released ??= request.queued.then(async () => call(release, [request.id, owner])).then(ignore, ignore);
		return request.released;
	};

	/** A waiting request gives up: it rejects and leaves the queue. */
	const abandon = (request: Request, reason: unknown) => {
		if (request.state !== WAITING) {
			return;
		}

		void remove(request);
		request.reject(reason);
	};

	/** A held lease is no longer safe: its signal aborts; Redis forgets it too, if it still can. */
	const lose = (request: Request, why: string, cause?: unknown) => {
		if (request.state !== HELD) {
			return;
		}

		void remove(request);
		request.controller.abort(new BackendError(`Lost the lease on lane ${formatKey(request.key)}: ${why}`, {key: request.key, cause}));
	};

	/** Counts the lease (or the place in line) as valid until `leaseMs` after `sentAt`, when Redis last confirmed it (monotonic ms). */
	const confirm = (request: Request, sentAt: number) => {
		clock.clearTimeout(request.deadline);
		const valid = sentAt + leaseMs * (1 - safety) - performance.now();
		request.deadline = clock.setTimeout(() => {
			request.deadline = undefined;
			const why = `Redis confirmed nothing for ${leaseMs} ms (\`leaseMs\`): unreachable or frozen`;
			if (request.state === HELD) {
				lose(request, why);
			} else {
				abandon(request, new BackendError(`Gave up waiting for lane ${formatKey(request.key)}: ${why}`, {key: request.key}));
			}
		}, valid);
	};

	const grant = (request: Request) => {
		if (request.state !== WAITING) {
			return;
		}

		request.state = HELD;
		detach(request);
		let lease: Promise<void> | undefined;
		request.resolve({
			fencingToken: request.ticket,
			signal: request.controller.signal,
			release: () => (lease ??= remove(request)),
		});
		if (request.pollTimer === undefined && !request.polling) {
			schedule(request, renewEvery);
		}
	};

	const schedule = (request: Request, ms: number) => {
		clock.clearTimeout(request.pollTimer);
		request.pollTimer = clock.setTimeout(() => {
			request.pollTimer = undefined;
			void check(request);
		}, ms);
	};

	/** Renews the request in Redis and, for a waiting one, takes its turn if it has come. */
	const check = async (request: Request) => {
		if (request.state === DONE || request.polling) {
			return;
		}

		request.polling = true;
		const sentAt = performance.now();
		// A reply to a check sent while waiting may arrive after the grant's notification: it says "waiting".
		const heldWhenSent = request.state === HELD;
		let reply: unknown;
		try {
			// No timeout: a late answer still confirms the lease as of `sentAt`; the deadline decides when it is too late.
			reply = await call(poll, [request.id, owner], false);
		} catch {
			// Refused (connection lost): try again soon.
			request.polling = false;
			if (request.state !== DONE) {
				schedule(request, Math.min(renewEvery, commandTimeout));
			}

			return;
		}

		request.polling = false;
		if (request.state === DONE) {
			return;
		}

		const [status, , waitMs] = reply as [number, number?, number?];
		if (status === -1) {
			const why = 'Redis no longer has it (it expired, or Redis restarted or failed over)';
			if (request.state === HELD) {
				lose(request, why);
			} else {
				abandon(request, new BackendError(`Lost the place in line for lane ${formatKey(request.key)}: ${why}`, {key: request.key}));
			}

			return;
		}

		if (heldWhenSent && status !== 1) {
			// A failover to a replica that missed the grant: Redis would hand the lane to someone else.
			lose(request, 'Redis no longer records it as granted (a failover that lost writes?)');
			return;
		}

		confirm(request, sentAt);
		if (status === 1) {
			grant(request);
			schedule(request, renewEvery);
		} else {
			schedule(request, Math.min(renewEvery, Math.max(0, waitMs ?? 0) + 5));
		}
	};

	const acquire = async (keys: readonly string[], acquireOptions: AcquireOptions): Promise<Lease> => {
		const kind = acquireOptions?.kind;
		if (kind !== 'read' && kind !== 'write') {
			throw invalid('kind', "`'read'` or `'write'`", kind);
		}

		const list = canonicalKeys(keys, 'keys');
		const {signal} = acquireOptions;
		if (signal?.aborted) {
			throw signal.reason;
		}

		if (closed) {
			throw new BackendError('The Redis backend is closed', {key: list});
		}

		const subscribing = subscribe();
		if (subscribing) {
			await subscribing;
		}

		if (signal?.aborted) {
			throw signal.reason;
		}

		const request = new Request(`${owner}:${++nextId}`, list, JSON.stringify(nodesOf(list, kind)));
		const promise = new Promise<Lease>((resolve, reject) => {
			request.resolve = resolve;
			request.reject = reject;
		});
		requests.set(request.id, request);
		if (signal) {
			request.signal = signal;
			request.onAbort = () => {
				abandon(request, signal.reason);
			};

			signal.addEventListener('abort', request.onAbort, {once: true});
		}

		const sentAt = performance.now();
		const queued = call(enqueue, [request.id, owner, request.spec]);
		request.queued = queued.catch(ignore);
		queued.then(
			reply => {
				if (request.state !== WAITING) {
					return;
				}

				const [status, ticket, waitMs] = reply as [number, number, number?];
				request.ticket = ticket;
				request.enqueued = true;
				confirm(request, sentAt);
				if (status === 1 || request.announced) {
					grant(request);
				} else {
					schedule(request, Math.min(renewEvery, Math.max(0, waitMs ?? 0) + 5));
				}
			},
			(error: unknown) => {
				abandon(
					request,
					new BackendError(`Redis did not queue the request for lane ${formatKey(request.key)}: ${error instanceof Error ? error.message : String(error)}`, {
						key: request.key,
						cause: error,
					}),
				);
			},
		);
		return promise;
	};

	return {
		name: 'redis',
		acquire,
		async close() {
			if (closed) {
				return;
			}

			closed = true;
			const pending: Array<Promise<void>> = [];
			for (const request of [...requests.values()]) {
				if (request.state === HELD) {
					lose(request, 'the backend was closed');
				} else {
					abandon(request, new BackendError(`The Redis backend closed while lane ${formatKey(request.key)} was awaited`, {key: request.key}));
				}

				pending.push(request.released ?? Promise.resolve());
			}

			await Promise.all(pending);
			client.off('ready', onReady);
			if (subscriber) {
				subscriber.off('message', onMessage);
				subscriber.off('ready', onReady);
				if (givenSubscriber === undefined) {
					subscriber.disconnect();
				} else {
					await subscriber.unsubscribe(channel).catch(ignore);
				}
			}
		},
	};
}
