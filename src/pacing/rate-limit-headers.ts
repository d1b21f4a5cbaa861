/** Which header generation a `RateLimitInfo` was read from. */
export type RateLimitSource = 'draft-08' | 'draft-07' | 'separate' | 'x-ratelimit';

/** A rate-limit bucket's state as one response announced it. */
export type RateLimitInfo = {
	/** Quota units per window (`q`, `limit`, `RateLimit-Limit`), when the response names it. */
	readonly limit?: number;
	/** Quota units left in the current window. */
	readonly remaining: number;
	/** When the current window ends, in epoch milliseconds. */
	readonly resetAt: number;
	/** Window length in milliseconds, when a policy announces it (`w`). */
	readonly window?: number;
	/** Name of the quota policy (drafts 08+). */
	readonly policy?: string;
	readonly source: RateLimitSource;
};

/**
Reads the quota state a response announces, from whichever generation of rate-limit fields it
carries. Preference: drafts 08+ (`RateLimit-Policy: "p";q=100;w=60` with `RateLimit: "p";r=50;t=30`),
draft 07 (`RateLimit: limit=100, remaining=50, reset=30`), the separate `RateLimit-Limit`,
`-Remaining` and `-Reset` fields (with the old `RateLimit-Policy: 100;w=60`), then `X-RateLimit-*`
(and `X-Rate-Limit-*`). A later generation is used only when no earlier one yields a usable state.

When a response announces several quotas, the most restrictive wins: the lowest `remaining`, then
the latest reset. A reset above 1e9 is a Unix time in seconds (above 1e12, in milliseconds), as
`X-RateLimit-Reset` often is; otherwise it counts seconds from `now`. Quotas in units other than
requests, and quotas with no reset and no window, are skipped: they cannot pace requests.

Never throws: unusable values yield `undefined`. `Retry-After` is not read here; see `retryAfterWins()`.
*/
export function parseRateLimit(headers: Headers, now: number): RateLimitInfo | undefined {
	return (
		mostRestrictive(fromStructured(headers, now)) ??
		mostRestrictive(fromDictionary(headers, now)) ??
		fromSeparate(headers, now, 'ratelimit-', 'separate') ??
		fromSeparate(headers, now, 'x-ratelimit-', 'x-ratelimit') ??
		fromSeparate(headers, now, 'x-rate-limit-', 'x-ratelimit')
	);
}

/**
When a response carries both `Retry-After` and rate-limit fields, `Retry-After` wins: it is the
server's explicit instruction (RFC 9110 §10.2.3), while `remaining` and `reset` are hints that may
describe another window or policy. So nothing in the bucket starts before `Retry-After` has passed,
whatever `remaining` says; the quota (`limit`, `window`) stays known for the window after it.

`retryAfterMs` is `parseRetryAfter()`'s result; `undefined` returns `info` unchanged.
*/
export function retryAfterWins(info: RateLimitInfo, retryAfterMs: number | undefined, now: number): RateLimitInfo {
	return retryAfterMs === undefined ? info : {...info, remaining: 0, resetAt: now + retryAfterMs};
}

// Structured-field integers have at most 15 digits (RFC 9651 §3.3.1); larger values are garbage.
const maxInteger = 999_999_999_999_999;
// A reset further away than this is garbage, not a quota (the longest common windows are monthly).
const maxResetMs = 400 * 24 * 60 * 60 * 1000;

type Bare = string | number | boolean | {readonly bytes: string};

/** One list member or dictionary entry: `key=value;a=1` has a `key`, `"p";r=1` and `100;w=60` have none. */
type Member = {
	readonly key: string | undefined;
	readonly value: Bare;
	readonly params: ReadonlyMap<string, Bare>;
};

function fromStructured(headers: Headers, now: number): RateLimitInfo[] {
	const field = headers.get('ratelimit');
	if (field === null) {
		return [];
	}

	const policies = new Map<string, Member>();
	for (const member of parseMembers(headers.get('ratelimit-policy'))) {
		if (member.key === undefined && typeof member.value === 'string') {
			policies.set(member.value.toLowerCase(), member);
		}
	}

	const found: RateLimitInfo[] = [];
	for (const member of parseMembers(field)) {
		const remaining = member.key === undefined && typeof member.value === 'string' ? count(member.params.get('r')) : undefined;
		if (remaining === undefined) {
			continue;
		}

		const name = member.value as string;
		const policy = policies.get(name.toLowerCase());
		const units = policy?.params.get('qu');
		if (units !== undefined && units !== 'requests') {
			continue;
		}

		const limit = count(policy?.params.get('q'));
		const window = seconds(policy?.params.get('w'));
		const resetAt = resetTime(member.params.get('t'), now, window);
		if (resetAt !== undefined) {
			found.push(info(limit, remaining, resetAt, window, name, 'draft-08'));
		}
	}

	return found;
}

const dictionaryKeys = new Set(['limit', 'remaining', 'reset']);

function fromDictionary(headers: Headers, now: number): RateLimitInfo[] {
	const field = headers.get('ratelimit');
	if (field === null) {
		return [];
	}

	// Several `RateLimit` lines arrive joined into one dictionary; a key seen again starts the next quota.
	const groups: Array<Map<string, Bare>> = [];
	let group = new Map<string, Bare>();
	const add = (key: string, value: Bare) => {
		if (!dictionaryKeys.has(key)) {
			return;
		}

		if (group.has(key)) {
			groups.push(group);
			group = new Map();
		}

		group.set(key, value);
	};

	for (const member of parseMembers(field)) {
		if (member.key !== undefined) {
			add(member.key, member.value);
			// Tolerates `limit=5;remaining=4;reset=58`, written with `;` where `,` belongs.
			for (const [key, value] of member.params) {
				add(key, value);
			}
		}
	}

	groups.push(group);
	const windows = legacyWindows(headers.get('ratelimit-policy'));
	const found: RateLimitInfo[] = [];
	for (const entries of groups) {
		const limit = count(entries.get('limit'));
		const remaining = count(entries.get('remaining'));
		const window = limit === undefined ? undefined : windows.get(limit);
		const resetAt = resetTime(entries.get('reset'), now, window);
		if (remaining !== undefined && resetAt !== undefined) {
			found.push(info(limit, remaining, resetAt, window, undefined, 'draft-07'));
		}
	}

	return found;
}

function fromSeparate(headers: Headers, now: number, prefix: string, source: RateLimitSource): RateLimitInfo | undefined {
	const remaining = count(first(headers.get(`${prefix}remaining`)));
	if (remaining === undefined) {
		return undefined;
	}

	// `RateLimit-Limit: 10, 10;w=1, 50;w=60` names the expiring limit first, then its policies.
	const limitField = headers.get(`${prefix}limit`);
	const limit = count(first(limitField));
	const windows = legacyWindows(limitField);
	for (const [quota, window] of legacyWindows(headers.get(`${prefix}policy`))) {
		windows.set(quota, window);
	}

	const window = limit === undefined ? undefined : windows.get(limit);
	const resetAt = resetTime(first(headers.get(`${prefix}reset`)), now, window);
	return resetAt === undefined ? undefined : info(limit, remaining, resetAt, window, undefined, source);
}

/** The pre-08 policy items `100;w=60` as quota → window in ms. */
function legacyWindows(field: string | null): Map<number, number> {
	const windows = new Map<number, number>();
	for (const member of parseMembers(field)) {
		const quota = member.key === undefined ? count(member.value) : undefined;
		const window = seconds(member.params.get('w'));
		if (quota !== undefined && window !== undefined && !windows.has(quota)) {
			windows.set(quota, window);
		}
	}

	return windows;
}

function first(field: string | null): Bare | undefined {
	const [member] = parseMembers(field);
	return member?.key === undefined ? member?.value : undefined;
}

function info(
	limit: number | undefined,
	remaining: number,
	resetAt: number,
	window: number | undefined,
	policy: string | undefined,
	source: RateLimitSource,
): RateLimitInfo {
	return {
		...(limit !== undefined && {limit}),
		remaining,
		resetAt,
		...(window !== undefined && {window}),
		...(policy !== undefined && {policy}),
		source,
	};
}

function mostRestrictive(found: readonly RateLimitInfo[]): RateLimitInfo | undefined {
	let result: RateLimitInfo | undefined;
	for (const candidate of found) {
		if (result === undefined || candidate.remaining < result.remaining || (candidate.remaining === result.remaining && candidate.resetAt > result.resetAt)) {
			result = candidate;
		}
	}

	return result;
}

/** A non-negative number; numeric strings too (`r="5"`), since senders quote numbers by mistake. */
function number(value: Bare | undefined): number | undefined {
	const parsed = typeof value === 'number' ? value : typeof value === 'string' && /^\d+(?:\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
	return parsed >= 0 && parsed <= maxInteger ? parsed : undefined;
}

/** Quota units, rounded down: a fractional remaining must not grant a request the server lacks. */
function count(value: Bare | undefined): number | undefined {
	const parsed = number(value);
	return parsed === undefined ? undefined : Math.floor(parsed);
}

/** A window in milliseconds; zero is no window. */
function seconds(value: Bare | undefined): number | undefined {
	const parsed = number(value);
	return parsed === undefined || parsed === 0 ? undefined : parsed * 1000;
}

/** The reset as epoch ms: delta-seconds, or a Unix time; without one, a full `window` from now. */
function resetTime(value: Bare | undefined, now: number, window: number | undefined): number | undefined {
	if (value === undefined) {
		return window === undefined ? undefined : now + window;
	}

	const parsed = number(value);
	if (parsed === undefined) {
		return undefined;
	}

	const resetAt = parsed > 1e12 ? parsed : parsed > 1e9 ? parsed * 1000 : now + parsed * 1000;
	return resetAt - now > maxResetMs ? undefined : resetAt;
}

/**
Splits a field into members: the common ground of Structured Fields lists and dictionaries
(RFC 9651), read leniently: whitespace around `;` and `=`, keys in any case, numbers with a fraction.
A member that does not parse is skipped, never fatal.
*/
function parseMembers(field: string | null): Member[] {
	const members: Member[] = [];
	if (field === null) {
		return members;
	}

	const scanner = new Scanner(field);
	while (!scanner.done()) {
		const member = scanner.member();
		if (member !== undefined && scanner.atMemberEnd()) {
			members.push(member);
		}

		scanner.skipMember();
	}

	return members;
}

const tokenStart = /[a-z*]/i;
const tokenChar = /[\w!#$%&'*+\-.^`|~:/]/;

class Scanner {
	readonly #text: string;
	#index = 0;

	constructor(text: string) {
		this.#text = text;
	}

	done(): boolean {
		this.#spaces();
		return this.#index >= this.#text.length;
	}

	member(): Member | undefined {
		this.#spaces();
		let key: string | undefined;
		let value: Bare | undefined;
		const token = this.#token();
		if (token !== undefined && this.#peekAfterSpaces() === '=') {
			key = token.toLowerCase();
			this.#delimiter();
			value = this.#bare();
		} else {
			value = token ?? this.#bare();
		}

		if (value === undefined) {
			return undefined;
		}

		const params = new Map<string, Bare>();
		while (this.#peekAfterSpaces() === ';') {
			this.#delimiter();
			const name = this.#token();
			if (name === undefined) {
				return undefined;
			}

			let parameter: Bare | undefined = true;
			if (this.#peekAfterSpaces() === '=') {
				this.#delimiter();
				parameter = this.#bare();
				if (parameter === undefined) {
					return undefined;
				}
			}

			params.set(name.toLowerCase(), parameter);
		}

		return {key, value, params};
	}

	atMemberEnd(): boolean {
		const next = this.#peekAfterSpaces();
		return next === undefined || next === ',';
	}

	/** Moves past the next `,` outside a quoted string. */
	skipMember(): void {
		let quoted = false;
		for (; this.#index < this.#text.length; this.#index++) {
			const char = this.#text[this.#index];
			if (quoted && char === '\\') {
				this.#index++;
			} else if (char === '"') {
				quoted = !quoted;
			} else if (char === ',' && !quoted) {
				this.#index++;
				return;
			}
		}
	}

	#bare(): Bare | undefined {
		const char = this.#text[this.#index];
		if (char === undefined) {
			return undefined;
		}

		if (char === '"') {
			return this.#string();
		}

		if (char === '-' || (char >= '0' && char <= '9')) {
			const match = /^-?\d+(?:\.\d+)?/.exec(this.#text.slice(this.#index, this.#index + 40));
			if (match === null) {
				return undefined;
			}

			this.#index += match[0].length;
			return Number(match[0]);
		}

		if (char === ':') {
			// A byte sequence (`pk=:cHNk:`): only skipped over, never decoded.
			const end = this.#text.indexOf(':', this.#index + 1);
			if (end === -1) {
				return undefined;
			}

			const bytes = {bytes: this.#text.slice(this.#index + 1, end)};
			this.#index = end + 1;
			return bytes;
		}

		if (char === '?') {
			const flag = this.#text[this.#index + 1];
			if (flag !== '0' && flag !== '1') {
				return undefined;
			}

			this.#index += 2;
			return flag === '1';
		}

		return this.#token();
	}

	#string(): string | undefined {
		let result = '';
		for (let index = this.#index + 1; index < this.#text.length; index++) {
			const char = this.#text[index];
			if (char === '\\') {
				index++;
				result += this.#text[index] ?? '';
			} else if (char === '"') {
				this.#index = index + 1;
				return result;
			} else {
				result += char;
			}
		}

		return undefined;
	}

	#token(): string | undefined {
		const start = this.#index;
		if (!tokenStart.test(this.#text[start] ?? '')) {
			return undefined;
		}

		let end = start + 1;
		while (end < this.#text.length && tokenChar.test(this.#text[end] ?? '')) {
			end++;
		}

		this.#index = end;
		return this.#text.slice(start, end);
	}

	/** Steps over `=` or `;` and the whitespace around it. */
	#delimiter(): void {
		this.#spaces();
		this.#index++;
		this.#spaces();
	}

	#spaces(): void {
		while (this.#text[this.#index] === ' ' || this.#text[this.#index] === '\t') {
			this.#index++;
		}
	}

	#peekAfterSpaces(): string | undefined {
		let index = this.#index;
		while (this.#text[index] === ' ' || this.#text[index] === '\t') {
			index++;
		}

		return this.#text[index];
	}
}

/**
`Retry-After` as milliseconds from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
`undefined` when absent or unparsable; a date in the past is 0. Always finite: delay-seconds too
large for a number count as `Number.MAX_SAFE_INTEGER` ms (285,000 years), still a wait, not garbage.
*/
export function parseRetryAfter(value: string | null, now: number): number | undefined {
	if (value === null) {
		return undefined;
	}

	const trimmed = value.trim();
	if (/^\d+$/.test(trimmed)) {
		return Math.min(Number(trimmed) * 1000, Number.MAX_SAFE_INTEGER);
	}

	// An HTTP-date names its day (`Sun, 06 Nov 1994 08:49:37 GMT`); Date.parse alone would take `-1` for a year.
	const date = /^[a-z]{3},/i.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
	return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
