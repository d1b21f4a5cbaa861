#!/usr/bin/env node
import {main} from './main.js';

// The first SIGINT/SIGTERM stops the command cleanly (servers closed); the listeners are `once`, so a
// second one ends the process the default way.
const controller = new AbortController();
const stop = (): void => {
	controller.abort();
};

process.once('SIGINT', stop);
process.once('SIGTERM', stop);

// https://no-color.org: any non-empty NO_COLOR turns colours off.
const color = process.stdout.isTTY === true && !process.env.NO_COLOR;

try {
	process.exitCode = await main(process.argv.slice(2), {
		stdout: text => process.stdout.write(text),
		stderr: text => process.stderr.write(text),
		color,
		tty: process.stdout.isTTY === true,
		signal: controller.signal,
	});
} catch (error) {
	process.stderr.write(`writelane: ${error instanceof Error ? error.message : String(error)}\n`);
	process.exitCode = 1;
} finally {
	process.off('SIGINT', stop);
	process.off('SIGTERM', stop);
}
