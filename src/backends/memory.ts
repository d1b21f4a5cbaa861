import type {LockBackend} from '../core/backend.js';

/**
The default backend: the lanes of one `createLanes()` instance in this process, nothing more. Zero
set-up; use `redisBackend()` when several processes or machines write to the same API.
*/
export function memoryBackend(): LockBackend {
	return {name: 'memory', inProcess: true};
}
