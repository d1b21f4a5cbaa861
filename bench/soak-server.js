// The soak's reference server, in a process of its own: the soak's heap figures are then the
// client's alone, not the server's growing logs and objects. Driven over IPC by bench/soak.js.
import {startLwwServer} from '../dist/testing/index.js';

const server = await startLwwServer(JSON.parse(process.argv[2]));

process.on('message', async (message) => {
	if (message.type === 'report') {
		const {requests, total, overlaps, overlapsByObject, conflicts, faults, maxInFlightByObject} = server.report();
		const objects = Object.fromEntries(server.objectIds.map((id) => [id, server.object(id)]));
		const maxInFlight = Math.max(0, ...Object.values(maxInFlightByObject));
		process.send({type: 'report', report: {requests, total, overlaps, overlapsByObject, conflicts, faults, maxInFlight}, objects});
	} else if (message.type === 'close') {
		process.disconnect();
	}
});

// Closed when the soak says so, or when it is gone (it crashed, or was killed): never left running.
process.on('disconnect', () => {
	void server.close();
});

process.send({type: 'ready', url: server.url, token: server.token, objectIds: server.objectIds});
