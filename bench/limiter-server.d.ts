export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket';
export type Generation = 'draft-6' | 'draft-7' | 'draft-8' | 'x-ratelimit';

export const algorithms: readonly Algorithm[];
export const generations: readonly Generation[];

export type Counts = {requests: number; tooMany: number};

export type LimiterServer = {
	readonly url: string;
	readonly token: string;
	readonly log: {
		requests: number;
		tooMany: number;
		/** `METHOD /path` → counts. */
		readonly endpoints: Map<string, Counts>;
		/** Client name (the body's `client`) → counts. */
		readonly clients: Map<string, Counts>;
		/** Object id → `client:seq` of the writes applied, in the order applied. */
		readonly applied: Map<string, string[]>;
	};
	close(): Promise<void>;
};

export function rateLimitFields(
	generation: Generation,
	state: {limit: number; windowMs: number; remaining: number; resetMs: number},
): Record<string, string>;

export function startLimiterServer(options?: {
	algorithm?: Algorithm;
	generation?: Generation;
	limit?: number;
	windowMs?: number;
	latencyMs?: number;
}): Promise<LimiterServer>;
