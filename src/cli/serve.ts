import {type LwwServer, type LwwServerOptions, startLwwServer} from '../testing/index.js';
import {
	type CliIo,
	exitCodes,
	formatLatency,
	helpText,
	parseFlags,
	parseInteger,
	parseLatency,
	parseRate,
	commandOptions,
	UsageError,
	usage,
} from './args.js';

const flags = {
	port: {type: 'string'},
	host: {type: 'string'},
	objects: {type: 'string'},
	latency: {type: 'string'},
	token: {type: 'string'},
	rate: {type: 'string'},
	seed: {type: 'string'},
	mode: {type: 'string'},
	help: {type: 'boolean', short: 'h'},
} as const;

export const serveHelp = helpText({
	title: 'writelane serve - start the reference last-write-wins server (Capacities-shaped API)',
	usage: ['writelane serve [options]'],
	sections: [
		{
			name: 'Options',
			rows: [
				['--port N', 'TCP port, 0 for a free one (default 4010)'],
				['--host HOST', 'Interface to listen on (default 127.0.0.1)'],
				['--objects N', 'Generated pages to start with (default 10)'],
				['--latency MIN-MAX', 'Latency per request in ms, or a fixed N (default 5-30)'],
				['--token TOKEN', 'Bearer token clients must send (default a random cap-api-... token)'],
				['--rate N/s|N/min', 'Rate limit per token; excess requests get 429 (default none)'],
				['--seed N', 'Seed of latencies and generated ids (default 1)'],
				['--mode lww|etag|version', 'Last write wins, ETag/If-Match (412), or a version field (default lww)'],
				['-h, --help', 'Show this help'],
			],
		},
	],
	notes: [
		'Writes read the stored object, wait, and write the whole object back, so concurrent writes',
		'to one object lose changes exactly as a last-write-wins API does. Stops on Ctrl+C (SIGINT)',
		'or SIGTERM. Endpoints: see docs/testing.md#endpoints in the writelane repository.',
	],
	examples: ['writelane serve', 'writelane serve --port 0 --latency 50-200 --rate 30/min', 'writelane serve --token cap-api-local --objects 3'],
});

function parseServeArgs(args: readonly string[]): LwwServerOptions | 'help' {
	const values = parseFlags(args, flags, 'serve');
	if (values.help) {
		return 'help';
	}

	const options: {-readonly [K in keyof LwwServerOptions]: LwwServerOptions[K]} = {
		port: values.port === undefined ? 4010 : parseInteger('--port', values.port, 0, 65_535),
		objects: values.objects === undefined ? 10 : parseInteger('--objects', values.objects, 0, 100_000),
	};
	if (values.host !== undefined) {
		if (values.host === '') {
			throw usage('--host', 'a host name or address', values.host);
		}

		options.host = values.host;
	}

	if (values.latency !== undefined) {
		options.latency = parseLatency('--latency', values.latency);
	}

	if (values.token !== undefined) {
		// A credential: say what is wrong without echoing it.
		if (!/^[\u0021-\u007E]+$/.test(values.token)) {
			throw new UsageError(`Expected \`--token\` to be visible ASCII characters without spaces, got a string of length ${values.token.length}`);
		}

		options.token = values.token;
	}

	if (values.rate !== undefined) {
		options.rateLimit = parseRate('--rate', values.rate);
	}

	if (values.seed !== undefined) {
		options.seed = parseInteger('--seed', values.seed, Number.MIN_SAFE_INTEGER);
	}

	if (values.mode !== undefined) {
		if (values.mode !== 'lww' && values.mode !== 'etag' && values.mode !== 'version') {
			throw usage('--mode', '`lww`, `etag` or `version`', values.mode);
		}

		options.mode = values.mode;
	}

	return options;
}

function describeRate(rate: LwwServerOptions['rateLimit']): string {
	if (!rate) {
		return 'off';
	}

	return `${rate.limit} per ${rate.interval === 1000 ? 'second' : 'minute'} per token`;
}

function banner(server: LwwServer, options: LwwServerOptions): string {
	const titles = server.objectIds.map(id => `  ${id}  ${server.object(id)?.title ?? ''}`.trimEnd());
	return [
		`writelane reference server (mode ${options.mode ?? 'lww'}, Capacities-shaped API)`,
		`URL:        ${server.url}`,
		`Token:      ${server.token}`,
		`Latency:    ${formatLatency(options.latency ?? [5, 30])}`,
		`Rate limit: ${describeRate(options.rateLimit)}`,
		`Objects:    ${server.objectIds.length}`,
		...titles,
		'',
		`Try:  curl -H 'Authorization: Bearer ${server.token}' ${server.url}/objects`,
		'Press Ctrl+C to stop.',
		'',
	].join('\n');
}

/**
`writelane serve [options]`: starts the reference server and keeps it up until `io.signal` aborts
(the bin aborts it on SIGINT and SIGTERM), then closes it. Resolves with the exit code.
*/
export async function runServe(args: readonly string[], io: CliIo): Promise<number> {
	const options = commandOptions(args, parseServeArgs, serveHelp, io);
	if (typeof options === 'number') {
		return options;
	}

	let server: LwwServer;
	try {
		server = await startLwwServer(options);
	} catch (error) {
		const {code, message} = error as {code?: string; message: string};
		if (code === 'EADDRINUSE') {
			io.stderr(`writelane: port ${options.port} is in use (--port ${options.port}); pick another one, or --port 0 for a free one\n`);
		} else if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
			io.stderr(`writelane: cannot listen on --host ${options.host}: ${message}\n`);
		} else {
			io.stderr(`writelane: cannot start the server: ${message}\n`);
		}

		return exitCodes.failed;
	}

	io.stdout(banner(server, options));
	const {signal} = io;
	if (!signal?.aborted) {
		await new Promise<void>(resolve => {
			signal?.addEventListener('abort', () => resolve(), {once: true});
		});
	}

	await server.close();
	io.stdout('Server stopped.\n');
	return exitCodes.ok;
}
