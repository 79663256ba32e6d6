'use strict';
// Tiny TCP relay that records every chunk in each direction.
// node tools/capture.js --listen 26300 --target 127.0.0.1:26200 --out /tmp/boltcap/run1 [--delay-c2s MS]
// For connection N it writes, in --out:
//   connN.c2s.bin / connN.s2c.bin  raw bytes, appended in order
//   connN.log                       one line per chunk: <ms since start> <dir> <len> <hex>
const net = require('net');
const fs = require('fs');
const path = require('path');
const argv = process.argv.slice(2);
const get = (k, d) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
const listen = Number(get('--listen', '26300'));
const [thost, tport] = get('--target', '127.0.0.1:26200').split(':');
const out = get('--out', '/tmp/boltcap/out');
const delay = Number(get('--delay-c2s', '0')); // hold client->server bytes this long (simulated latency)
fs.mkdirSync(out, { recursive: true });
const t0 = Date.now();
let n = 0;
const srv = net.createServer(c => {
  const id = ++n;
  const base = path.join(out, 'conn' + id);
  const log = fs.createWriteStream(base + '.log');
  const rec = (dir, buf) => {
    fs.appendFileSync(base + '.' + dir + '.bin', buf);
    log.write(`${Date.now() - t0} ${dir} ${buf.length} ${buf.toString('hex')}\n`);
  };
  const s = net.connect(Number(tport), thost);
  c.setNoDelay(true); s.setNoDelay(true);
  c.on('data', d => { rec('c2s', d); if (delay) setTimeout(() => s.write(d), delay); else s.write(d); });
  s.on('data', d => { rec('s2c', d); c.write(d); });
  c.on('end', () => { log.write(`${Date.now() - t0} c2s-FIN\n`); s.end(); });
  s.on('end', () => { log.write(`${Date.now() - t0} s2c-FIN\n`); c.end(); });
  c.on('error', e => { log.write(`${Date.now() - t0} c-error ${e.code}\n`); s.destroy(); });
  s.on('error', e => { log.write(`${Date.now() - t0} s-error ${e.code}\n`); c.destroy(); });
  c.on('close', () => { s.destroy(); });
  s.on('close', () => { log.write(`${Date.now() - t0} s-close\n`); c.destroy(); });
  fs.writeFileSync(base + '.c2s.bin', Buffer.alloc(0));
  fs.writeFileSync(base + '.s2c.bin', Buffer.alloc(0));
});
srv.listen(listen, '127.0.0.1', () => process.stdout.write(`capture ready ${listen} -> ${thost}:${tport} out=${out}\n`));
process.on('SIGTERM', () => process.exit(0));
