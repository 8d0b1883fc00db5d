// Starts @elastic/mockopampserver (plain HTTP) on loopback for the interop
// test, offering one remote config, and serves what it recorded as JSON on a
// second loopback port so the Rust test can check it.
//
// Prints "ENDPOINT <url>" and "CONTROL <url>" on stdout once listening.
'use strict';
const http = require('http');
const {MockOpAMPServer} = require('@elastic/mockopampserver');

function plain(v) {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') {
        const o = {};
        for (const [k, x] of Object.entries(v)) {
            if (k === '$typeName') continue;
            o[k] = plain(x);
        }
        return o;
    }
    return v;
}

async function main() {
    const body = process.env.MOCK_CONFIG_BODY ?? '[INPUT]\n    Name dummy\n';
    const server = new MockOpAMPServer({
        logLevel: 'warn',
        hostname: '127.0.0.1',
        port: 0,
        testMode: true,
        agentConfigMap: {
            configMap: {
                '': {body: Buffer.from(body), contentType: 'text/x-fluent-bit'},
            },
        },
    });
    await server.start();
    const control = http.createServer((req, res) => {
        const reqs = server.testGetRequests().map((r) => ({
            headers: r.req && r.req.headers,
            status: r.res && r.res.statusCode,
            a2s: plain(r.a2s),
            s2a: plain(r.s2a),
            err: r.err ? String(r.err) : undefined,
        }));
        res.writeHead(200, {'Content-Type': 'application/json'});
        res.end(JSON.stringify(reqs));
    });
    control.listen(0, '127.0.0.1', () => {
        console.log(`ENDPOINT ${server.endpoint}`);
        console.log(`CONTROL http://127.0.0.1:${control.address().port}/requests`);
    });
    // Bounded life: the test kills us, but never outlive it by much.
    setTimeout(() => process.exit(0), 120000).unref();
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
}
main();
