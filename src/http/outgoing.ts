import {checkedHeaders, directLaneRequest, toLaneRequest, toRequest} from '../keys/request.js';
import type {CompiledKeys, LaneRequest} from '../keys/types.js';

/** fetch's signature: what the pipeline sends through (the `fetch` option, ky's fetch, a caller's function). */
export type Transport = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/**
A request on its way through the pipeline. A call that `directLaneRequest()` accepts (a URL and a
`RequestInit` whose body fetch can send again) is sent as it was given, on every attempt, without
building a `Request`: fetch builds its own, and there is no body stream to tee for the key rule or
to clone for a retry. Anything else is kept as a `Request`, cloned for each attempt that may be
followed by another.
*/
export class Outgoing {
	readonly method: string;
	readonly signal: AbortSignal | undefined;
	readonly #input: string | URL | Request;
	/**
	`#input` when it is a `Request`: told apart once. In Node, `instanceof Request` runs V8's generic
	check, which looks `Symbol.hasInstance` up on `Request` (a global Node defines lazily) every time.
	*/
	readonly #request: Request | undefined;
	readonly #init: RequestInit | undefined;
	#headers: Headers | undefined;

	private constructor(input: string | URL | Request, init: RequestInit | undefined, method: string, headers?: Headers) {
		const request = typeof input === 'string' || input instanceof URL ? undefined : input;
		this.#input = input;
		this.#request = request;
		this.#init = init;
		this.method = method;
		this.signal = request === undefined ? (init?.signal ?? undefined) : request.signal;
		this.#headers = headers;
	}

	/** A `Request` as it is (ky's, or one a caller built). */
	static of(request: Request): Outgoing {
		return new Outgoing(request, undefined, request.method.toUpperCase());
	}

	/** The URL as given (not normalized). */
	get url(): string {
		const input = this.#input;
		return typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
	}

	/** The headers as sent (read-only by convention: change them with `with()`). */
	get headers(): Headers {
		const request = this.#request;
		this.#headers ??= request === undefined ? new Headers(this.#init?.headers) : request.headers;
		return this.#headers;
	}

	/** Whether the request has a body (the platform refuses to send one twice from a `Request`). */
	get hasBody(): boolean {
		const request = this.#request;
		return request === undefined ? this.#init?.body !== undefined && this.#init.body !== null : request.body !== null;
	}

	/** The body as given, when it was given as text. */
	get text(): string | undefined {
		const body = this.#init?.body;
		return typeof body === 'string' ? body : undefined;
	}

	/** The body as text (read from a clone of a `Request`); `undefined` when there is none or it is not text. */
	async bodyText(): Promise<string | undefined> {
		const request = this.#request;
		if (request !== undefined) {
			return request.body === null ? undefined : request.clone().text();
		}

		const body = this.#init?.body;
		return body === undefined || body === null ? undefined : new Response(body).text();
	}

	/** One attempt through `transport`; `again`: another attempt may follow, so a `Request` body is kept unread. */
	send(transport: Transport, again: boolean): Promise<Response> {
		const request = this.#request;
		if (request !== undefined) {
			return transport(again && request.body !== null ? request.clone() : request);
		}

		const input = this.#input;
		return this.#init === undefined ? transport(input) : transport(input, this.#init);
	}

	/** The same request with headers set (`null` removes one), a new text body, or another signal. */
	with(change: {readonly headers?: Readonly<Record<string, string | null>>; readonly body?: string; readonly signal?: AbortSignal | null}): Outgoing {
		const headers = new Headers(this.headers);
		for (const [name, value] of Object.entries(change.headers ?? {})) {
			if (value === null) {
				headers.delete(name);
			} else {
				headers.set(name, value);
			}
		}

		const request = this.#request;
		// A Request keeps what it carries; a direct call keeps the rest of its init.
		const init: RequestInit = request === undefined ? {...this.#init, headers} : {headers};
		if (change.body !== undefined) {
			init.body = change.body;
		}

		if ('signal' in change) {
			init.signal = change.signal ?? null;
		}

		return request === undefined ? new Outgoing(this.#input, init, this.method, headers) : new Outgoing(new Request(request, init), undefined, this.method, headers);
	}

	/** A `Request` for this call (for code that needs one, such as a read-back). */
	toRequest(): Request {
		return this.#request ?? toRequest(this.#input as string | URL, this.#init);
	}

	/**
	A call given as `fetch(input, init)` (see `prepare()`), taken as it is now: a caller may change
	its `init`, headers, URL or bytes for the next call while this one waits for its lane. `headers`:
	a copy of `init.headers` made already (`checkedHeaders()`), which is sent as it is and never changed.
	*/
	static direct(input: string | URL, init: RequestInit | undefined, method: string, headers?: Record<string, string>): Outgoing {
		const url = typeof input === 'string' ? input : input.href;
		if (init === undefined || init === null) {
			return new Outgoing(url, undefined, method);
		}

		const copy: RequestInit = {};
		if (init.method !== undefined) {
			copy.method = init.method;
		}

		if (init.headers !== undefined) {
			// A record the key rule's view has copied already is not copied again.
			copy.headers = headers ?? copyHeaders(init.headers);
		}

		if (init.body !== undefined) {
			copy.body = copyBody(init.body);
		}

		if (init.signal !== undefined) {
			copy.signal = init.signal;
		}

		return new Outgoing(url, copy, method);
	}
}

function copyHeaders(headers: HeadersInit): HeadersInit {
	if (Array.isArray(headers)) {
		return headers.map(pair => [...pair]) as HeadersInit;
	}

	// A plain record is copied as it is; anything else fetch takes (a `Headers`, a `Map`, any iterable of pairs) through `Headers`.
	const prototype: unknown = Object.getPrototypeOf(headers);
	return prototype === Object.prototype || prototype === null ? {...(headers as Record<string, string>)} : new Headers(headers);
}

function copyBody(body: BodyInit | null): BodyInit | null {
	if (body instanceof ArrayBuffer) {
		return body.slice(0);
	}

	if (ArrayBuffer.isView(body)) {
		return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
	}

	return body instanceof URLSearchParams ? new URLSearchParams(body) : body;
}

/** A call ready for its lane: what is sent, and what the key rule sees of it. */
export type Prepared = {
	readonly outgoing: Outgoing;
	readonly laneRequest: LaneRequest;
};

/**
`fetch(input, init)` made ready for the pipeline: at once on the direct path, else through a
`Request` (asynchronously when the rule reads its body). Refuses what fetch would refuse, with a
credential-free `TypeError`. `keys` says what the key rule and the hooks that see the request need.
*/
export function prepare(input: RequestInfo | URL, init: RequestInit | undefined, keys: Pick<CompiledKeys, 'readsBody' | 'builtIn'>): Prepared | Promise<Prepared> {
	const {readsBody} = keys;
	const direct = directLaneRequest(input, init, readsBody, keys.builtIn);
	if (direct !== undefined) {
		return {outgoing: Outgoing.direct(input as string | URL, init, direct.method, checkedHeaders(direct)), laneRequest: direct};
	}

	return prepareRequest(toRequest(input, init), readsBody);
}

/** A `Request` made ready for the pipeline. */
export async function prepareRequest(request: Request, readsBody: boolean): Promise<Prepared> {
	const laneRequest = await toLaneRequest(request, readsBody);
	return {outgoing: Outgoing.of(request), laneRequest};
}
