/**
Responses handed to callers whose PUT was superseded (`supersede: true`): a later PUT of the same URL
queued right behind it replaced it before it was sent, and its caller got a clone of the later
PUT's response.
*/
const superseded = new WeakSet<Response>();

export function markSuperseded(response: Response): Response {
	superseded.add(response);
	return response;
}

/** Whether `response` answered a later PUT that replaced the caller's own (see `supersede`). */
export function isSuperseded(response: Response): boolean {
	return superseded.has(response);
}
