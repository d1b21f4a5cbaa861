/*
What errors may show of what a request carried. Header values are secret unless the header is on
an allow-list; URL user info and query values always are. Used to scrub the text of a server's
answer or of a platform error before it goes into one of our messages. A secret is blanked wherever
it appears, so only strings long enough to be a credential are looked for (see `minSecret`); the
credential-shaped patterns in `scrub()` cover the rest whatever its length.
*/

/** Headers whose values never carry credentials. Every other header's value counts as one. */
const publicHeaders = new Set([
	'accept',
	'accept-encoding',
	'accept-language',
	'cache-control',
	'content-encoding',
	'content-language',
	'content-length',
	'content-type',
	'if-match',
	'if-modified-since',
	'if-none-match',
	'if-unmodified-since',
	'pragma',
	'prefer',
	'range',
	'user-agent',
]);

/**
Values and parts shorter than this are not looked for as substrings. A secret is blanked wherever it
appears in a server's text, so a short one mangles ordinary words (a custom header `x-call: a` would
turn `"path"` into `"p[redacted]th"`, a query `?page=2` every `2`). Eight characters is the shortest
password NIST SP 800-63B lets a verifier accept; bearer tokens, session cookies and API keys are far
longer (16 or more random characters). Shorter values still go where a credential is recognisable by
its shape: URL user info and query strings, `Bearer …`, `token=…` and `"password": "…"` are
redacted by the patterns in `scrub()` whatever their length.
*/
const minSecret = 8;
const redacted = '[redacted]';

function addValue(secrets: Set<string>, value: string): void {
	if (value.length < minSecret) {
		return;
	}

	secrets.add(value);
	// `Bearer <token>`, `a=1; session=<id>`, `key1,key2`: each part on its own, too.
	for (const part of value.split(/[\s,;=:]+/)) {
		if (part.length >= minSecret) {
			secrets.add(part);
		}
	}

	try {
		const decoded = decodeURIComponent(value);
		if (decoded !== value) {
			addValue(secrets, decoded);
		}
	} catch {
		// Not an escaped value: the raw spelling is enough.
	}
}

/**
The secret strings of a request: the values of its headers outside the allow-list, its URL's user
name and password and its query values, each whole and split into parts, those of at least
`minSecret` (8) characters.
*/
export function secretsOf(headers: Iterable<[string, string]> | undefined, url: string | URL | undefined): Set<string> {
	const secrets = new Set<string>();
	for (const [name, value] of headers ?? []) {
		if (!publicHeaders.has(name.toLowerCase())) {
			addValue(secrets, value);
		}
	}

	if (url !== undefined) {
		addUrlSecrets(secrets, String(url));
	}

	return secrets;
}

/** User info and query values of a URL, also of one the URL parser rejects. */
function addUrlSecrets(secrets: Set<string>, url: string): void {
	const scheme = /^[a-z][a-z\d+.-]*:[/\\]*/i.exec(url)?.[0] ?? '';
	const rest = url.slice(scheme.length);
	const authorityEnd = rest.search(/[/\\?#]/);
	const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
	const at = authority.lastIndexOf('@');
	if (at !== -1) {
		for (const part of authority.slice(0, at).split(':')) {
			addValue(secrets, part);
		}
	}

	const queryStart = url.indexOf('?');
	if (queryStart !== -1) {
		const hash = url.indexOf('#', queryStart);
		const query = url.slice(queryStart + 1, hash === -1 ? undefined : hash);
		for (const pair of query.split('&')) {
			const equals = pair.indexOf('=');
			addValue(secrets, equals === -1 ? pair : pair.slice(equals + 1));
		}
	}
}

/** Names of JSON fields and parameters whose values are credentials, whatever the request carried. */
const secretName = String.raw`[\w-]*(?:token|secret|passw(?:or)?d|api[_-]?key|auth\w*|cookie|session|credential|signature)[\w-]*`;
const patterns: ReadonlyArray<readonly [RegExp, string]> = [
	// User info in a URL.
	[/([a-z][a-z\d+.-]*:\/\/)[^\s/?#@"'<>]*@/gi, `$1${redacted}@`],
	// Query strings of URLs.
	[/([a-z][a-z\d+.-]*:\/\/[^\s?#"'<>]*)\?[^\s#"'<>]*/gi, `$1?${redacted}`],
	// Authorization schemes with their credentials.
	[/\b(Bearer|Basic|Digest|Token)\s+[\w.~+/=-]+/gi, `$1 ${redacted}`],
	// `"token": "…"`, `token=…`.
	[new RegExp(String.raw`("${secretName}"\s*:\s*)"(?:[^"\\]|\\.)*"`, 'gi'), `$1"${redacted}"`],
	[new RegExp(String.raw`\b(${secretName}=)(?!\[redacted\])[^\s&;,"'<>]+`, 'gi'), `$1${redacted}`],
];

/**
`text` with every known secret and everything shaped like a credential (URL user info, query
strings, `Bearer …`, `"token": "…"`) replaced by `[redacted]`.
*/
export function scrub(text: string, secrets: Iterable<string> = []): string {
	let result = text;
	// Longest first, so a part never leaves the rest of its whole value behind.
	for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
		if (secret !== '' && result.includes(secret)) {
			result = result.split(secret).join(redacted);
		}
	}

	for (const [pattern, replacement] of patterns) {
		result = result.replace(pattern, replacement);
	}

	return result;
}

const secretKey = new RegExp(`^${secretName}$`, 'i');
/** Deeper than this, a parsed body is cut off rather than walked (JSON nests without limit). */
const maxDepth = 64;

/**
A copy of a parsed JSON value (a server's answer kept on an error) with every string scrubbed (see
`scrub()`) and the string values of fields named like credentials (`token`, `password`, `apiKey`,
`authorization` …) redacted. Keys stay as they are, `__proto__` included, as plain data.
*/
export function scrubJson(value: unknown, secrets: Iterable<string> = [], depth = 0): unknown {
	const known = Array.isArray(secrets) ? (secrets as string[]) : [...secrets];
	if (typeof value === 'string') {
		return scrub(value, known);
	}

	if (typeof value !== 'object' || value === null) {
		return value;
	}

	if (depth >= maxDepth) {
		return '[truncated]';
	}

	if (Array.isArray(value)) {
		return value.map(item => scrubJson(item, known, depth + 1));
	}

	return Object.fromEntries(
		Object.entries(value).map(([key, item]) => [key, typeof item === 'string' && secretKey.test(key) ? redacted : scrubJson(item, known, depth + 1)]),
	);
}

/** Characters of an answer looked at; an excerpt is much shorter, so a secret cut here is cut off anyway. */
const scanned = 4096;

/**
A short, credential-free excerpt of a server's answer for an error message: scrubbed (see
`scrub()`), whitespace and control characters collapsed, at most `max` characters.
*/
export function excerpt(text: string, secrets: Iterable<string> = [], max = 120): string {
	// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes.
	const shown = scrub(text.slice(0, scanned), secrets).replace(/[\s\u0000-\u001F\u007F]+/g, ' ').trim();
	return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
}

/**
Scrubs (see `scrub()`) the message and stack of an error made by someone else's code in place, for
errors whose text quotes a request (ky's `HTTPError` and `TimeoutError` show its URL with the query).
The error keeps its class and every other property.
*/
export function scrubErrorText(error: unknown, secrets: Iterable<string>): void {
	if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') {
		return;
	}

	const known = [...secrets];
	const target = error as Error;
	try {
		// Reading `stack` first formats it with the message as it was; both are rewritten.
		const {stack} = target;
		target.message = scrub(target.message, known);
		if (typeof stack === 'string') {
			target.stack = scrub(stack, known);
		}
	} catch {
		// A frozen or exotic error: it stays as it is.
	}
}
