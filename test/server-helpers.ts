import {onTestFinished} from 'vitest';
import {type LwwBlock, type LwwObject, type LwwServer, type LwwServerOptions, startLwwServer} from '../src/testing/index.js';

export const unknownId = '00000000-0000-4000-8000-000000000000';

/** A reference server (1 ms latency unless told otherwise), closed when the test ends. */
export async function start(options: LwwServerOptions = {}): Promise<LwwServer> {
	const server = await startLwwServer({latency: 1, ...options});
	onTestFinished(async () => {
		await server.close();
	});
	return server;
}

export type Answer<T> = {status: number; body: T; text: string; headers: Headers};

/** A JSON request with the server's token and extra headers; `T` is the shape the test expects back. */
export async function call<T = unknown>(
	server: LwwServer,
	method: string,
	path: string,
	body?: unknown,
	headers: Record<string, string> = {},
): Promise<Answer<T>> {
	const response = await fetch(server.url + path, {
		method,
		headers: {authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...headers},
		body: body === undefined ? null : JSON.stringify(body),
	});
	const text = await response.text();
	return {status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T, text, headers: response.headers};
}

export function firstId(server: LwwServer): string {
	const [id] = server.objectIds;
	if (id === undefined) {
		throw new Error('the server has no objects');
	}

	return id;
}

export function stored(server: LwwServer, id: string): LwwObject {
	const object = server.object(id);
	if (!object) {
		throw new Error(`object ${id} is not stored`);
	}

	return object;
}

/** A TextBlock as the API takes it. */
export function text(value: string): Record<string, unknown> {
	return {type: 'TextBlock', tokens: [{type: 'TextToken', text: value, style: {}}]};
}

export type {LwwBlock};
