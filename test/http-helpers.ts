import {createServer, type IncomingMessage, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';

export type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void | Promise<void>;

export type TestServer = {
	readonly url: string;
	/** `'<method> <path>[ <tag>]'` for every request received, in arrival order. */
	readonly log: string[];
	close(): Promise<void>;
};

/** A scriptable HTTP server on 127.0.0.1 for adapter tests. */
export async function startServer(handler: Handler): Promise<TestServer> {
	const log: string[] = [];
	const server = createServer((request, response) => {
		const chunks: Buffer[] = [];
		request.on('data', (chunk: Buffer) => chunks.push(chunk));
		request.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			log.push(`${request.method} ${request.url}${body ? ` ${body}` : ''}`);
			Promise.resolve(handler(request, body, response)).catch((error: unknown) => {
				response.statusCode = 500;
				response.end(String(error));
			});
		});
	});
	await new Promise<void>(resolve => {
		server.listen(0, '127.0.0.1', resolve);
	});
	const {port} = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		log,
		async close() {
			server.closeAllConnections();
			await new Promise<void>(resolve => {
				server.close(() => resolve());
			});
		},
	};
}

export {type Deferred, deferred} from './helpers.js';
