export {redisBackend, type RedisBackend, type RedisBackendOptions} from './backends/redis.js';
