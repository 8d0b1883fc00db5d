// The common HTTP OpAMP server of the benchmark: @elastic/mockopampserver on
// loopback, without test mode (which would keep every request in memory).
// Prints "ENDPOINT <url>" once listening. Ends when stdin closes or after
// BENCH_MAX_LIFE_S seconds, whichever is first.
'use strict';
const {MockOpAMPServer} = require('@elastic/mockopampserver');

async function main() {
    const server = new MockOpAMPServer({
        logLevel: 'warn',
        hostname: '127.0.0.1',
        port: 0,
    });
    await server.start();
    console.log(`ENDPOINT ${server.endpoint}`);
    const life = Number(process.env.BENCH_MAX_LIFE_S || 3600);
    setTimeout(() => process.exit(0), life * 1000).unref();
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
}
main();
