// `npm run bench:redis`: writelane's Redis backend against redlock and redis-semaphore, on a
// redis-server of its own. Every contender runs in separate processes that take and give back a lock
// in a loop; see the help text for what is measured.
import {spawn} from 'node:child_process';
import {createServer} from 'node:net';
import {loadavg} from 'node:os';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {Redis} from 'ioredis';
import {redisBackend} from '../dist/redis.js';

const help = `Usage
  npm run bench:redis -- [options]
  node bench/redis.js [options]        (after npm run build)

Options
  --duration <ms>    How long each scenario runs per contender (default 3000)
  --filter <text>    Only scenarios or contenders whose name contains the text
  -h, --help         Show this help

Scenarios: one hot key shared by 2 and by 4 processes, and 1,000 keys shared by 4 processes.
Each process loops: acquire (the time asked is "requested"), one event-loop turn holding the lock,
release. Columns:
  ops/s          holds per second, all processes together
  hand-offs      releases while another request was waiting
  hand-off p50   from such a release until one of the requests waiting then holds the lock (a
                 polling lock may first hand it to a newcomer, often the releasing process)
  wait p50/max   from asking to holding
  out of order   grants that went to a request made over 5 ms after one still waiting (FIFO breaks;
                 the times are taken in the processes, before the request reaches Redis, hence
                 the margin). writelane's tickets, taken on arrival, are also checked exactly.
  overlaps       grants while another process still held the key (must be 0)`;

const {values} = parseArgs({
	options: {duration: {type: 'string', default: '3000'}, filter: {type: 'string', multiple: true, default: []}, help: {type: 'boolean', short: 'h'}},
});
if (values.help) {
	console.log(help);
	process.exit(0);
}

const duration = Number(values.duration);
if (!Number.isInteger(duration) || duration < 100) {
	throw new Error(`Expected \`--duration\` to be an integer >= 100, got \`${values.duration}\``);
}

const leaseMs = 10_000;
const worker = fileURLToPath(new URL('redis-worker.js', import.meta.url));
const hotKey = ['objects/hot'];
const manyKeys = Array.from({length: 1000}, (_, index) => `objects/${index}`);
const scenarios = [
	{name: 'hot key, 2 processes', processes: 2, keys: hotKey},
	{name: 'hot key, 4 processes', processes: 4, keys: hotKey},
	{name: '1k keys, 4 processes', processes: 4, keys: manyKeys},
];
const contenders = ['writelane', 'redis-semaphore', 'redlock', 'redlock-10ms'];
const wanted = name => values.filter.every(text => name.toLowerCase().includes(text.toLowerCase()));

async function freePort() {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const {port} = server.address();
			server.close(() => resolve(port));
		});
	});
}

async function startRedis(port) {
	return new Promise((resolve, reject) => {
		const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''], {
			stdio: ['ignore', 'pipe', 'inherit'],
		});
		let output = '';
		child.stdout.setEncoding('utf8').on('data', chunk => {
			output += chunk;
			if (output.includes('Ready to accept connections')) {
				child.stdout.resume();
				resolve(child);
			}
		});
		child.once('error', error => reject(error.code === 'ENOENT' ? new Error('redis-server is not on PATH (apt-get install redis-server)') : error));
		child.once('exit', code => reject(new Error(`redis-server exited with ${code}:\n${output}`)));
	});
}

/** Runs one scenario for one contender; resolves with every process's holds. */
async function run(port, scenario, contender, round) {
	const job = {contender, port, keys: scenario.keys, leaseMs, prefix: `bench${round}:`};
	const children = Array.from({length: scenario.processes}, () => spawn(process.execPath, [worker, JSON.stringify(job)], {stdio: ['ignore', 'inherit', 'inherit', 'ipc']}));
	const messages = children.map(
		child =>
			new Promise((resolve, reject) => {
				const received = [];
				child.on('message', message => {
					received.push(message);
					if (message.type === 'done') {
						resolve(message);
					}
				});
				child.once('close', code => {
					if (!received.some(message => message.type === 'done')) {
						reject(new Error(`${contender} worker exited with ${code}`));
					}
				});
			}),
	);
	await Promise.all(
		children.map(child => new Promise(resolve => child.on('message', message => message.type === 'ready' && resolve()))),
	);
	const startAt = performance.timeOrigin + performance.now() + 200;
	for (const child of children) {
		child.send({startAt, endAt: startAt + duration});
	}

	const done = await Promise.all(messages);
	await Promise.all(children.map(child => new Promise(resolve => (child.exitCode === null ? child.once('exit', resolve) : resolve()))));
	return done;
}

function quantile(sorted, q) {
	if (sorted.length === 0) {
		return Number.NaN;
	}

	return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The table row of one run: holds are [key, requested, acquired, released] from every process. */
function summarize(done) {
	const holds = done.flatMap(message => message.holds.map(([key, requested, acquired, released, token]) => ({key, requested, acquired, released, token})));
	const byKey = new Map();
	for (const hold of holds) {
		const list = byKey.get(hold.key);
		if (list) {
			list.push(hold);
		} else {
			byKey.set(hold.key, [hold]);
		}
	}

	const handoffs = [];
	let overlaps = 0;
	let outOfOrder = 0;
	let ticketInversions = 0;
	for (const list of byKey.values()) {
		list.sort((a, b) => a.acquired - b.acquired);
		for (let index = 1; index < list.length; index++) {
			const previous = list[index - 1];
			const current = list[index];
			if (current.token !== null && current.token < previous.token) {
				ticketInversions++;
			}

			if (current.acquired < previous.released) {
				overlaps++;
			}
		}

		// Hand-off: after each release that someone was waiting for, the time until one of those waiters holds the lock.
		for (let index = 0; index < list.length - 1; index++) {
			const {released} = list[index];
			for (let next = index + 1; next < list.length; next++) {
				if (list[next].requested < released) {
					handoffs.push(list[next].acquired - released);
					break;
				}
			}
		}

		// FIFO: no request still waiting at a grant may have asked more than 5 ms before the granted one.
		let earliestLater = Number.POSITIVE_INFINITY;
		for (let index = list.length - 1; index >= 0; index--) {
			const current = list[index];
			if (earliestLater < current.requested - 5) {
				outOfOrder++;
			}

			earliestLater = Math.min(earliestLater, current.requested);
		}
	}

	const waits = holds.map(hold => hold.acquired - hold.requested).sort((a, b) => a - b);
	handoffs.sort((a, b) => a - b);
	return {
		ops: holds.length / (duration / 1000),
		handoffs: handoffs.length,
		handoffP50: quantile(handoffs, 0.5),
		handoffP95: quantile(handoffs, 0.95),
		waitP50: quantile(waits, 0.5),
		waitMax: waits.at(-1) ?? Number.NaN,
		outOfOrder: holds.length === 0 ? 0 : outOfOrder / holds.length,
		overlaps,
		ticketInversions,
		failures: done.reduce((sum, message) => sum + message.failures, 0),
	};
}

const ms = value => (Number.isNaN(value) ? '-' : `${value.toFixed(2)} ms`);

function table(rows) {
	const header = ['scenario', 'contender', 'ops/s', 'hand-offs', 'hand-off p50', 'hand-off p95', 'wait p50', 'wait max', 'out of order', 'overlaps'];
	const cells = rows.map(({scenario, contender, result}) => [
		scenario,
		contender,
		Math.round(result.ops).toLocaleString('en-US'),
		result.handoffs.toLocaleString('en-US'),
		ms(result.handoffP50),
		ms(result.handoffP95),
		ms(result.waitP50),
		ms(result.waitMax),
		`${(result.outOfOrder * 100).toFixed(1)}%`,
		String(result.overlaps + (result.failures ? ` (${result.failures} failed)` : '')),
	]);
	const widths = header.map((title, column) => Math.max(title.length, ...cells.map(row => row[column].length)));
	const line = row => `| ${row.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
	return [line(header), `|${widths.map((width, column) => (column < 2 ? `${'-'.repeat(width + 1)}-` : `${'-'.repeat(width + 1)}:`)).join('|')}|`, ...cells.map(line)].join('\n');
}

const port = await freePort();
const server = await startRedis(port);
try {
	// A fresh Redis grants writelane leases only once it has been up for one lease (restart safety).
	const client = new Redis({port, host: '127.0.0.1'});
	const backend = redisBackend({client, leaseMs});
	console.log(`redis-server on port ${port}; waiting out the fresh server's first lease (${leaseMs / 1000} s) ...`);
	await (await backend.acquire(['warm-up'], {kind: 'write'})).release();
	await backend.close();
	client.disconnect();

	console.log(`Node ${process.version}, load average ${loadavg()[0].toFixed(2)}, ${duration} ms per scenario and contender, lease ${leaseMs} ms\n`);
	const rows = [];
	let round = 0;
	for (const scenario of scenarios) {
		for (const contender of contenders) {
			if (!wanted(`${scenario.name} ${contender}`)) {
				continue;
			}

			const result = summarize(await run(port, scenario, contender, ++round));
			rows.push({scenario: scenario.name, contender, result});
			process.stdout.write(`  ${scenario.name}, ${contender}: ${Math.round(result.ops)} ops/s\n`);
		}
	}

	console.log(`\n${table(rows)}\n`);
	for (const scenario of scenarios.filter(item => item.keys === hotKey)) {
		const ours = rows.find(row => row.scenario === scenario.name && row.contender === 'writelane');
		const others = rows.filter(row => row.scenario === scenario.name && row.contender !== 'writelane');
		if (!ours || others.length === 0) {
			continue;
		}

		const fifo = ours.result.ticketInversions === 0 && ours.result.overlaps === 0;
		const faster = others.every(row => !(row.result.handoffP50 <= ours.result.handoffP50));
		console.log(
			`${scenario.name}: writelane grants in arrival (ticket) order ${fifo ? 'yes' : 'NO'}, median hand-off ${ms(ours.result.handoffP50)} vs ${others.map(row => `${row.contender} ${ms(row.result.handoffP50)}`).join(', ')}: ${faster ? 'lower than all' : 'NOT lower than all'}`,
		);
	}
} finally {
	server.kill('SIGKILL');
}
