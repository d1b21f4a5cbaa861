import type {LaneRequest, PresetLearn} from '../keys/types.js';

/**
Lets the preset learn from the body the caller reads: `json()` and `text()` of this response pass
what they parsed on to `learn.body`. A preset hook that throws never fails the request.
*/
export function teach(learn: PresetLearn, laneRequest: LaneRequest, response: Response): void {
	try {
		if (!learn.when(laneRequest, response)) {
			return;
		}
	} catch {
		return;
	}

	const learnFrom = (body: unknown) => {
		try {
			learn.body(laneRequest, body);
		} catch {
			// Learning is an optimization: a bad body only means a coarser lane later.
		}
	};

	const {json, text} = response;
	Object.defineProperties(response, {
		json: {
			configurable: true,
			writable: true,
			async value(this: Response) {
				const body: unknown = await json.call(this);
				learnFrom(body);
				return body;
			},
		},
		text: {
			configurable: true,
			writable: true,
			async value(this: Response) {
				const value = await text.call(this);
				try {
					learnFrom(JSON.parse(value));
				} catch {
					// Not JSON: nothing to learn.
				}

				return value;
			},
		},
	});
}
