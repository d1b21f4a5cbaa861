import {parseArgs, type ParseArgsConfig} from 'node:util';
import {invalid} from '../errors/describe.js';

/** Where a command writes, and what stops it. The bin passes the process's streams; tests pass collectors. */
export type CliIo = {
	/** Receives chunks of standard output, newlines included. */
	readonly stdout: (text: string) => void;
	/** Receives chunks of standard error, newlines included. */
	readonly stderr: (text: string) => void;
	/**
	Whether standard output may carry ANSI colours.
	@default false
	*/
	readonly color?: boolean;
	/** Stops a long-running command (`serve`); the bin aborts it on SIGINT and SIGTERM. */
	readonly signal?: AbortSignal;
	/**
	Whether standard output is a terminal (a live display may redraw it); off one, commands that
	report progress write JSON lines.
	@default false
	*/
	readonly tty?: boolean;
};

/** Exit codes: success, a failed check or runtime error, a usage error, stopped by SIGINT/SIGTERM. */
export const exitCodes = {ok: 0, failed: 1, usage: 2, interrupted: 130} as const;

/** A wrong command line; reported on stderr with exit code 2. */
export class UsageError extends Error {
	override name = 'UsageError';
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Strict `parseArgs` whose errors become `UsageError`s in the CLI's wording, naming the flag. */
export function parseFlags<const T extends OptionsConfig>(
	args: readonly string[],
	options: T,
	command: string,
): ReturnType<typeof parseArgs<{args: string[]; options: T; strict: true; allowPositionals: false}>>['values'] {
	return parseCommandLine(args, options, command, false).values;
}

/** `parseFlags()` for a command that also takes arguments (`writelane run FILE`): its flags and its positionals. */
export function parseCommandLine<const T extends OptionsConfig>(
	args: readonly string[],
	options: T,
	command: string,
	allowPositionals = true,
): ReturnType<typeof parseArgs<{args: string[]; options: T; strict: true; allowPositionals: true}>> {
	try {
		return parseArgs({args: [...args], options, strict: true, allowPositionals});
	} catch (error) {
		const {code, message} = error as {code?: string; message: string};
		const flag = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
		const help = `Run \`writelane ${command} --help\` for the options.`;
		if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
			throw new UsageError(`Unknown option \`${flag ?? message}\` for \`writelane ${command}\`. ${help}`);
		}

		if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
			const value = /'([^']*)'/.exec(message)?.[1];
			throw new UsageError(`Unexpected argument \`${value ?? message}\` for \`writelane ${command}\`. ${help}`);
		}

		if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
			let detail = 'takes no value';
			if (message.includes('ambiguous')) {
				detail = `got a value starting with \`-\`: write it as \`${flag ?? ''}=VALUE\``;
			} else if (message.includes('missing')) {
				detail = 'needs a value';
			}

			throw new UsageError(`Option \`${flag ?? '?'}\` ${detail}. ${help}`);
		}

		throw error;
	}
}

/** A `UsageError` in the house wording: `` Expected `--port` to be …, got `"x"` (string) ``. */
export function usage(flag: string, expected: string, value: string): UsageError {
	return new UsageError(invalid(flag, expected, value).message);
}

const decimal = /^\d+(?:\.\d+)?$/;

/** An integer flag within `[min, max]`. */
export function parseInteger(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
	const number = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
	if (!Number.isSafeInteger(number) || number < min || number > max) {
		const unbounded = max === Number.MAX_SAFE_INTEGER;
		const range =
			unbounded && min === Number.MIN_SAFE_INTEGER ? 'a safe integer' : unbounded ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
		throw usage(flag, range, value);
	}

	return number;
}

/** `--latency 12` (fixed) or `--latency 5-30` (a range), in milliseconds. */
export function parseLatency(flag: string, value: string): number | [number, number] {
	const expected = 'milliseconds as `N` or a range `MIN-MAX` with MIN <= MAX (e.g. `5-30`)';
	if (decimal.test(value)) {
		return Number(value);
	}

	const [min, max, ...rest] = value.split('-');
	if (min === undefined || max === undefined || rest.length > 0 || !decimal.test(min) || !decimal.test(max)) {
		throw usage(flag, expected, value);
	}

	const range: [number, number] = [Number(min), Number(max)];
	if (range[0] > range[1]) {
		throw usage(flag, expected, value);
	}

	return range;
}

/** `--rate 5/s`, `--rate 30/min`: requests per window. */
export function parseRate(flag: string, value: string): {limit: number; interval: number} {
	const match = /^(\d+)\/(s|sec|second|m|min|minute)$/.exec(value);
	const limit = match ? Number(match[1]) : 0;
	if (!match || !Number.isSafeInteger(limit) || limit < 1) {
		throw usage(flag, 'a rate `N/s` or `N/min` with N >= 1 (e.g. `5/s`)', value);
	}

	return {limit, interval: match[2]!.startsWith('s') ? 1000 : 60_000};
}

/** Human latency: `5-30 ms` or `12 ms`. */
export function formatLatency(latency: number | readonly [number, number]): string {
	if (typeof latency === 'number') {
		return `${latency} ms`;
	}

	return latency[0] === latency[1] ? `${latency[0]} ms` : `${latency[0]}-${latency[1]} ms`;
}

/** Help text with the house sections; `rows` are `[left, right]` pairs aligned in two columns. */
export function helpText(parts: {
	readonly title: string;
	readonly usage: readonly string[];
	readonly sections: ReadonlyArray<{readonly name: string; readonly rows: ReadonlyArray<readonly [string, string]>}>;
	readonly examples: readonly string[];
	readonly notes?: readonly string[];
}): string {
	const lines = [parts.title, '', 'Usage', ...parts.usage.map(line => `  ${line}`)];
	for (const section of parts.sections) {
		const width = Math.max(...section.rows.map(([left]) => left.length));
		lines.push('', section.name, ...section.rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`));
	}

	if (parts.notes && parts.notes.length > 0) {
		lines.push('', ...parts.notes);
	}

	lines.push('', 'Examples', ...parts.examples.map(line => `  $ ${line}`));
	return `${lines.join('\n')}\n`;
}

/** Reports a `UsageError` (exit code 2); anything else is rethrown. */
export function reportUsage(error: unknown, io: CliIo): number {
	if (error instanceof UsageError) {
		io.stderr(`writelane: ${error.message}\n`);
		return exitCodes.usage;
	}

	throw error;
}

/** A command's options from its flags, or the exit code once it printed its help or a usage error. */
export function commandOptions<T>(args: readonly string[], parse: (args: readonly string[]) => T | 'help', help: string, io: CliIo): T | number {
	let parsed: T | 'help';
	try {
		parsed = parse(args);
	} catch (error) {
		return reportUsage(error, io);
	}

	if (parsed === 'help') {
		io.stdout(help);
		return exitCodes.ok;
	}

	return parsed;
}
