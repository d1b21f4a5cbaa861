import type {IncomingHttpHeaders} from 'node:http';
import type {LwwMode} from './options.js';
import type {Reply, ReplyError} from './reply.js';

/**
What a concurrency mode adds to the pipeline. Every hook runs synchronously next to the store access
it guards, so a check and the write-back it allows cannot be separated by another request.
- `checkRead`: before a read of one object is answered; a reply replaces the answer (`'etag'`: 304
  for a matching If-None-Match).
- `checkWrite`: after the wait, right before the write-back, with the version stored *now*; an error
  rejects the write (`'etag'`: 412 for a stale If-Match; `'version'`: 400 `VERSION_MISMATCH` for a
  stale body `version`).
- `versionHeaders`: headers describing the version of the object in a response (`'etag'`: ETag).
*/
export type ModeStrategy = {
	readonly name: LwwMode;
	readonly checkRead: (headers: IncomingHttpHeaders, version: number) => Reply | undefined;
	readonly checkWrite: (
		headers: IncomingHttpHeaders,
		body: unknown,
		version: number | undefined,
	) => ReplyError | undefined;
	readonly versionHeaders: (version: number) => Readonly<Record<string, string>>;
};

/** Last write wins: no preconditions, no version on the wire (the version counter is still kept). */
const lww: ModeStrategy = {
	name: 'lww',
	checkRead: () => undefined,
	checkWrite: () => undefined,
	versionHeaders: () => ({}),
};

export function modeStrategy(mode: LwwMode): ModeStrategy {
	switch (mode) {
		case 'lww': {
			return lww;
		}
	}
}
