#!/usr/bin/env node
'use strict';
// Decodes Bolt request frames (one hex frame per line of FILE) with
// sofa-bolt-node's own decoder, the one sofa-rpc-node's server runs on every
// connection: a frame it throws on makes the server close the connection.
// With --healthy HEX, that frame is decoded after each one with the same
// class cache, as on a connection a proxy shares: the server keeps one cache
// per connection, keyed by class name and field count, and decodes later
// definitions with the cached layout, so a frame can also break the ones
// after it. Prints one JSON line per frame that fails ({"hex", "error"})
// and then {"frames": N, "failed": N}. The e2e test
// TestBoltCodecAgreesWithSofaBoltNode feeds it every mutated frame the
// proxy's Bolt codec would forward.
//   node tools/check-decode.js --hessian-version 3.0|4.0 [--healthy HEX] FILE
const fs = require('fs');
const protocol = require('sofa-bolt-node/lib/protocol');

const args = process.argv.slice(2);
let version = '3.0';
let file = '';
let healthy = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--hessian-version') version = args[++i];
  else if (args[i] === '--healthy') healthy = Buffer.from(args[++i], 'hex');
  else file = args[i];
}
if (!file || (version !== '3.0' && version !== '4.0')) {
  process.stderr.write('usage: check-decode.js --hessian-version 3.0|4.0 FILE\n');
  process.exit(2);
}
// A process-wide setting in sofa-bolt-node, as in server.js.
require('sofa-bolt-node').setOptions({ hessianVersion: version });

const decoded = (buf, classCache) => JSON.stringify(protocol.decode(buf, { classCache }).data);
const want = healthy && decoded(healthy, new Map());
const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
let failed = 0;
for (const hex of lines) {
  // A fresh class cache per frame: each frame opens a new connection.
  const classCache = new Map();
  let error = '';
  try {
    protocol.decode(Buffer.from(hex, 'hex'), { classCache });
  } catch (err) {
    error = String(err && err.message);
  }
  if (!error && healthy) {
    try {
      const got = decoded(healthy, classCache);
      if (got !== want) error = `the healthy frame after it decodes as ${got.slice(0, 300)}`;
    } catch (err) {
      error = `the healthy frame after it fails: ${err && err.message}`;
    }
  }
  if (error) {
    failed++;
    process.stdout.write(JSON.stringify({ hex, error }) + '\n');
  }
}
process.stdout.write(JSON.stringify({ frames: lines.length, failed }) + '\n');
