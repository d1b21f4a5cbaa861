import {readFileSync} from 'node:fs';
import {type CliIo, exitCodes, helpText} from './args.js';
import {demoHelp, runDemo} from './demo.js';
import {runHelp, runRun} from './run.js';
import {runServe, serveHelp} from './serve.js';

export const mainHelp = helpText({
	title: 'writelane - per-resource write lanes for last-write-wins APIs',
	usage: ['writelane <command> [options]', 'writelane help <command>'],
	sections: [
		{
			name: 'Commands',
			rows: [
				['run', 'Apply a file of HTTP operations (NDJSON) in order per resource, resumably'],
				['demo', 'Run one workload with plain fetch and through writelane, side by side'],
				['serve', 'Start the reference last-write-wins server'],
				['help', 'Show the help of a command'],
			],
		},
		{
			name: 'Options',
			rows: [
				['-h, --help', 'Show this help'],
				['--version', 'Print the version'],
			],
		},
	],
	examples: ['writelane run ops.ndjson --base-url http://127.0.0.1:4010 --journal ops.journal', 'writelane demo', 'writelane demo --seed 7 --json', 'writelane serve --port 4010 --rate 30/min', 'writelane help serve'],
});

const commands = {
	run: {run: runRun, help: runHelp},
	demo: {run: runDemo, help: demoHelp},
	serve: {run: runServe, help: serveHelp},
} as const;

function isCommand(name: string | undefined): name is keyof typeof commands {
	return name !== undefined && Object.hasOwn(commands, name);
}

/** The package version, read from the package.json next to `dist/` (or `src/`). */
export function version(): string {
	const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
	return (JSON.parse(text) as {version: string}).version;
}

function unknown(name: string, io: CliIo): number {
	const what = name.startsWith('-') ? 'option' : 'command';
	io.stderr(`writelane: Unknown ${what} \`${name}\`. Commands: run, demo, serve, help. Run \`writelane --help\`.\n`);
	return exitCodes.usage;
}

/** Dispatches `argv` (without the node and script paths) to a command; resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
	const [first, ...rest] = argv;
	if (first === undefined || first === '--help' || first === '-h') {
		io.stdout(mainHelp);
		return first === undefined ? exitCodes.usage : exitCodes.ok;
	}

	if (first === '--version') {
		if (rest.length > 0) {
			return unknown(rest[0]!, io);
		}

		io.stdout(`${version()}\n`);
		return exitCodes.ok;
	}

	if (first === 'help') {
		const [topic, ...extra] = rest;
		if (extra.length > 0) {
			return unknown(extra[0]!, io);
		}

		if (topic === undefined || topic === 'help') {
			io.stdout(mainHelp);
			return exitCodes.ok;
		}

		if (!isCommand(topic)) {
			return unknown(topic, io);
		}

		io.stdout(commands[topic].help);
		return exitCodes.ok;
	}

	if (!isCommand(first)) {
		return unknown(first, io);
	}

	return commands[first].run(rest, io);
}
