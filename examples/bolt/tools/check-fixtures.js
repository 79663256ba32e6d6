#!/usr/bin/env node
'use strict';
// Re-reads every fixture in ../fixtures: checks that each one-frame file holds
// exactly one Bolt frame (lengths from the fixed header) and that
// sofa-bolt-node's own decoder accepts it. Prints one line per file and
// "N passed, N failed".
//   node tools/check-fixtures.js
const fs = require('fs');
const path = require('path');
const protocol = require('sofa-bolt-node/lib/protocol');
const { setVersion } = require('sofa-bolt-node/lib/codec/hessian');

function readHex(file) {
  const text = fs.readFileSync(file, 'utf8').split('\n').filter(l => !l.startsWith('#')).join('');
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function frameLen(buf, off) {
  const p = buf[off];
  if (p === 1) {
    const resp = buf[off + 1] === 0;
    return resp ? 20 + buf.readUInt16BE(off + 12) + buf.readUInt16BE(off + 14) + buf.readUInt32BE(off + 16)
      : 22 + buf.readUInt16BE(off + 14) + buf.readUInt16BE(off + 16) + buf.readUInt32BE(off + 18);
  }
  if (p === 2) {
    const resp = buf[off + 2] === 0;
    const n = resp ? 22 + buf.readUInt16BE(off + 14) + buf.readUInt16BE(off + 16) + buf.readUInt32BE(off + 18)
      : 24 + buf.readUInt16BE(off + 16) + buf.readUInt16BE(off + 18) + buf.readUInt32BE(off + 20);
    return buf[off + 11] === 1 ? n + 4 : n;
  }
  throw new Error('unknown proto byte ' + p);
}

const dir = path.join(__dirname, '..', 'fixtures');
let passed = 0;
let failed = 0;
const files = fs.readdirSync(dir).filter(f => f.endsWith('.hex')).map(f => path.join(dir, f))
  .concat(fs.readdirSync(path.join(dir, 'streams')).filter(f => f.endsWith('.hex')).map(f => path.join(dir, 'streams', f)));
for (const file of files) {
  const name = path.relative(dir, file);
  try {
    const buf = readHex(file);
    const multi = name.startsWith('streams');
    setVersion(path.basename(file).startsWith('v1h4_') ? '4.0' : '3.0');
    let off = 0;
    const seen = [];
    while (off < buf.length) {
      const len = frameLen(buf, off);
      if (off + len > buf.length) throw new Error('truncated frame at ' + off);
      const r = protocol.decode(buf.slice(off, off + len), { classCache: new Map(), sentReqs: new Map() });
      seen.push(`${r.packetType}#${r.packetId}`);
      off += len;
    }
    if (!multi && seen.length !== 1) throw new Error('expected one frame, found ' + seen.length);
    passed++;
    console.log(`ok   ${name} (${buf.length} bytes: ${seen.join(' ')})`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err.message}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
