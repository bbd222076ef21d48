// Echo server on node's `ws` (Debian's node-ws), for the benchmark.
//
//   NODE_PATH=/usr/share/nodejs node echo_ws.js [--timeout S]
//
// Listens on 127.0.0.1 (a port the kernel picks), prints "PORT <port> PID
// <pid>" once listening, and echoes every message back as it came (text as
// text, binary as binary). permessage-deflate is off (ws's server default,
// made explicit). Exits on SIGTERM/SIGINT, or after --timeout seconds
// (default 900).
'use strict';
const { WebSocketServer } = require('ws');

const i = process.argv.indexOf('--timeout');
const timeout = i > 0 ? Number(process.argv[i + 1]) : 900;

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0,
                                  perMessageDeflate: false,
                                  maxPayload: 1 << 26 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`PORT ${wss.address().port} PID ${process.pid}\n`);
});
const quit = (code) => () => process.exit(code);
process.on('SIGTERM', quit(0));
process.on('SIGINT', quit(0));
setTimeout(quit(3), timeout * 1000).unref();
