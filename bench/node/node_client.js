// A separate-process OpAMP agent built on @elastic/opamp-client-node, doing
// the plugin's job: connect, describe itself, heartbeat. (This client has no
// effective-config or WebSocket support; see its README "Limitations".)
// Usage: node node_client.js <endpoint> <heartbeat seconds>
// Prints "READY" once started. Ends on SIGTERM, when stdin closes, or after
// BENCH_MAX_LIFE_S seconds.
'use strict';
const os = require('os');
const {createOpAMPClient} = require('@elastic/opamp-client-node');

const [endpoint, hb] = process.argv.slice(2);
const client = createOpAMPClient({
    endpoint,
    heartbeatIntervalSeconds: Number(hb || 30),
});
client.setAgentDescription({
    identifyingAttributes: {
        'service.name': 'bench-node-client',
        'service.instance.id': `node-${process.pid}`,
    },
    nonIdentifyingAttributes: {
        'process.pid': String(process.pid),
        'os.type': 'linux',
        'host.name': os.hostname(),
    },
});
client.start();
console.log('READY');

let stopping = false;
async function stop() {
    if (stopping) return;
    stopping = true;
    try {
        await client.shutdown();
    } finally {
        process.exit(0);
    }
}
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
const life = Number(process.env.BENCH_MAX_LIFE_S || 3600);
setTimeout(stop, life * 1000).unref();
