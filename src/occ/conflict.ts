import type {Preset, Versioning} from '../keys/types.js';

/**
Whether an answer to a conditional write means "someone changed it since you read it": always 412
(RFC 9110 §15.5.13); then the preset's `isConflict` when it has one; else 409 (a state conflict) or a
Square-style 400 with an error code `VERSION_MISMATCH`.
*/
export function isConflict(status: number, body: unknown, preset: Preset | undefined): boolean {
	if (status === 412) {
		return true;
	}

	// A preset knows its API's 409s (Kubernetes answers 409 `AlreadyExists` too, which no re-read fixes).
	if (preset?.isConflict) {
		return preset.isConflict(status, body);
	}

	return status === 409 || (status === 400 && hasErrorCode(body, 'VERSION_MISMATCH'));
}

function hasErrorCode(body: unknown, code: string): boolean {
	const errors = (body as {errors?: unknown} | undefined)?.errors;
	return Array.isArray(errors) && errors.some(error => (error as {code?: unknown} | undefined)?.code === code);
}

/** Characters of an answer we are going to report that are read at most. */
const replyLimit = 64 * 1024;

/**
The text (at most 64 KiB) and parsed JSON body (`undefined` when it is none) of an answer we are
going to report; never throws.
*/
export async function readReply(response: Response): Promise<{text: string; body: unknown}> {
	let text = '';
	try {
		text = (await response.text()).slice(0, replyLimit);
	} catch {
		return {text, body: undefined};
	}

	try {
		return {text, body: text === '' ? undefined : (JSON.parse(text) as unknown)};
	} catch {
		return {text, body: undefined};
	}
}

/**
A resource's version, to tell whether it moved: its strong ETag, else the version field the
preset's `versioning` reads from its JSON body. Weak ETags are skipped: they may stay the same
across changes and never equal a strong one.
*/
export function versionOf(etag: string | null, body: unknown, versioning: Versioning | undefined): string | undefined {
	if (etag !== null && !etag.startsWith('W/')) {
		return etag;
	}

	if (versioning?.type === 'field' && body !== undefined) {
		const version = versioning.read(body);
		return version === undefined ? undefined : String(version);
	}

	return undefined;
}
