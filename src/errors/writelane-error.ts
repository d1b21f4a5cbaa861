/** Options every writelane error takes. */
export type WritelaneErrorOptions = {
	/** The lane key(s) the failure belongs to. */
	readonly key?: string | readonly string[] | undefined;
	readonly cause?: unknown;
};

/**
Base class of every error writelane raises for a runtime failure (invalid options and arguments throw
`TypeError`). `code` is stable across versions; `key` names the lane(s) when there is one.
*/
export class WritelaneError extends Error {
	override name = 'WritelaneError';
	/** Stable machine-readable code, e.g. `'WL_QUEUE_FULL'`. */
	readonly code: string = 'WL_ERROR';
	/** The lane key, or keys for a multi-key operation. */
	readonly key: string | readonly string[] | undefined;

	constructor(message: string, options: WritelaneErrorOptions = {}) {
		super(message, options.cause === undefined ? undefined : {cause: options.cause});
		this.key = options.key;
	}
}

/** Renders a key (or keys) for a message. Keys are resource paths, never credentials. */
export function formatKey(key: string | readonly string[] | undefined): string {
	if (key === undefined) {
		return '(no lane)';
	}

	return typeof key === 'string' ? `\`${key}\`` : key.map(item => `\`${item}\``).join(', ');
}
