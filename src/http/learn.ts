import type {LaneRequest, PresetLearn} from '../keys/types.js';

type Lesson = {readonly learn: PresetLearn; readonly request: LaneRequest};

/** What a response handed out with learning hooked in teaches, and to whom: a property of its own. */
const lesson = Symbol('writelane.lesson');
type Taught = Response & {[lesson]?: Lesson};
const {json: readJson, text: readText} = Response.prototype;

function learnFrom(lesson: Lesson | undefined, body: unknown): void {
	try {
		lesson?.learn.body(lesson.request, body);
	} catch {
		// Learning is an optimization: a bad body only means a coarser lane later.
	}
}

// Shared by every such response: they find their lesson by the response they are called on.
function json(this: Taught): Promise<unknown> {
	const taught = this[lesson];
	const read = readJson.call(this);
	// The caller gets the platform's promise itself; the lesson is learnt by a reaction that comes
	// before the caller's (a promise of our own would be resolved with the body once more).
	read.then(
		(body: unknown) => {
			learnFrom(taught, body);
		},
		() => undefined,
	);
	return read;
}

async function text(this: Taught): Promise<string> {
	const value = await readText.call(this);
	const taught = this[lesson];
	if (taught !== undefined) {
		try {
			learnFrom(taught, JSON.parse(value));
		} catch {
			// Not JSON: nothing to learn.
		}
	}

	return value;
}

/**
Lets the preset learn from the body the caller reads: `json()` and `text()` of this response pass
what they parsed on to `learn.body`. A preset hook that throws never fails the request.
*/
export function teach(learn: PresetLearn, request: LaneRequest, response: Response): void {
	try {
		if (!learn.when(request, response)) {
			return;
		}
	} catch {
		return;
	}

	// Own properties in front of the prototype's methods; the caller calls them as ever.
	const taught = response as Taught;
	taught[lesson] = {learn, request};
	taught.json = json;
	taught.text = text;
}
