// A loopback API for bench/http-overhead.js, run as its own process so that its work is not counted
// against the client: answers every request at once, with what the Capacities endpoints answer.
import {createServer} from 'node:http';

const object = id => JSON.stringify({id, structureId: 'page', title: `Object ${id}`, properties: {}, blocks: []});

const server = createServer((request, response) => {
	const chunks = [];
	request.on('data', chunk => chunks.push(chunk));
	request.on('end', () => {
		const url = new URL(request.url, 'http://x');
		const body = request.method === 'GET' ? object(url.searchParams.get('id')) : '{"ok":true}';
		response.writeHead(200, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)});
		response.end(body);
	});
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
	process.stdout.write(`${server.address().port}\n`);
});
process.on('disconnect', () => process.exit(0));
