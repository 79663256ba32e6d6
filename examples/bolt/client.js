#!/usr/bin/env node
'use strict';
const { walkArgs, checkHessianVersion } = require('./lib/args');

// SOFA Bolt v1 (SOFARPC) demo client built on sofa-rpc-node's RpcClient,
// direct to one address (no registry).
//
//   node client.js --addr 127.0.0.1:26200 --n 3 --method echo --arg hello --prop traceid=abc
//
// Prints one JSON line per call: {call, ok, result, error, errorName}.
// Exit code 0 when every call succeeded, 1 otherwise, 2 on bad flags.

const SERVICE = 'org.meshproto.demo.BoltEcho';
const VERSION = '1.0.0';

function usage(code) {
  const text = `usage: node client.js --addr host:port [flags]
  --addr H:P          server (or proxy) address (default 127.0.0.1:26200)
  --service NAME      interface name (default ${SERVICE})
  --version V         service version (default ${VERSION}); Bolt header service = NAME:V
  --method M          method to call (default echo): echo | fail | sleep | props | any name
  --arg V             a call argument (repeatable). Strings by default; for sleep a
                      number is sent. Use --args-json to give typed args.
  --args-json JSON    the whole argument array as JSON, e.g. '[500]' or '["a",1]'
  --arg-size N        send one string argument of N bytes ("x" repeated)
  --prop k=v          SOFARPC request prop (repeatable) -> SofaRequest.requestProps
  --n N               number of calls (default 1)
  --parallel          issue all N calls at once (default: one after another)
  --timeout MS        response timeout per call, also the Bolt header timeout (default 3000)
  --oneway            send Bolt oneway requests (type 0x02); see README: sofa-rpc-node's
                      RpcClient has no oneway API, this uses sofa-bolt-node's RpcClient
  --idle-ms MS        keep the connection open MS ms after the calls (to see heartbeats)
  --heartbeat-ms MS   heartbeat tuning: client health tick = MS and idle threshold = MS
                      (sofa-rpc-node default: tick 10000, threshold 30000)
  --hessian-version 3.0|4.0
                      hessian dialect (default 3.0 = sofa-rpc-node's default); must match the server
  --truncate N        cut string results longer than N chars in the output (0 = never)
  --verbose           print sofa-rpc-node's logs on stderr
  -h, --help          this text
`;
  (code ? process.stderr : process.stdout).write(text);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = {
    addr: '127.0.0.1:26200', service: SERVICE, version: VERSION, method: 'echo',
    args: [], argsJson: null, argSize: 0, props: {}, n: 1, parallel: false, timeout: 3000,
    oneway: false, idleMs: 0, heartbeatMs: 0, hessianVersion: '3.0', truncate: 0, verbose: false,
  };
  walkArgs(argv, usage, (a, next) => {
    switch (a) {
      case '--addr': opts.addr = next(); return true;
      case '--service': opts.service = next(); return true;
      case '--version': opts.version = next(); return true;
      case '--method': opts.method = next(); return true;
      case '--arg': opts.args.push(next()); return true;
      case '--args-json': opts.argsJson = next(); return true;
      case '--arg-size': opts.argSize = Number(next()); return true;
      case '--prop': {
        const kv = next();
        const p = kv.indexOf('=');
        if (p <= 0) {
          process.stderr.write(`--prop wants k=v, got ${kv}\n`);
          usage(2);
        }
        opts.props[kv.slice(0, p)] = kv.slice(p + 1);
        return true;
      }
      case '--n': opts.n = Number(next()); return true;
      case '--parallel': opts.parallel = true; return true;
      case '--timeout': opts.timeout = Number(next()); return true;
      case '--oneway': opts.oneway = true; return true;
      case '--idle-ms': opts.idleMs = Number(next()); return true;
      case '--heartbeat-ms': opts.heartbeatMs = Number(next()); return true;
      case '--hessian-version': opts.hessianVersion = next(); return true;
      case '--truncate': opts.truncate = Number(next()); return true;
      case '--verbose': opts.verbose = true; return true;
      default:
        return false;
    }
  });
  if (!/^[^:]+:\d+$/.test(opts.addr)) {
    process.stderr.write('bad --addr, want host:port\n');
    usage(2);
  }
  if (!Number.isInteger(opts.n) || opts.n < 0) usage(2);
  if (!(opts.timeout > 0)) usage(2);
  checkHessianVersion(opts.hessianVersion, usage);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
// sofa-bolt-node keeps the hessian dialect as a process-wide setting.
require('sofa-bolt-node').setOptions({ hessianVersion: opts.hessianVersion });

function buildArgs() {
  if (opts.argsJson != null) {
    const v = JSON.parse(opts.argsJson);
    if (!Array.isArray(v)) throw new Error('--args-json must be a JSON array');
    return v;
  }
  const args = opts.args.slice();
  if (opts.argSize > 0) args.push('x'.repeat(opts.argSize));
  if (opts.method === 'sleep') return args.map(a => (/^-?\d+$/.test(a) ? Number(a) : a));
  if (opts.method === 'echo' && args.length === 0) args.push('hello');
  return args;
}

const logger = {
  debug() {},
  info(...args) { if (opts.verbose) process.stderr.write('[client info] ' + require('util').format(...args) + '\n'); },
  warn(...args) { if (opts.verbose) process.stderr.write('[client warn] ' + require('util').format(...args) + '\n'); },
  error(...args) { if (opts.verbose) process.stderr.write('[client error] ' + require('util').format(...args) + '\n'); },
};

function show(v) {
  if (opts.truncate > 0 && typeof v === 'string' && v.length > opts.truncate) {
    return v.slice(0, opts.truncate) + `...(${v.length} chars)`;
  }
  return v === undefined ? null : v;
}

function line(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function runRpc(args) {
  if (opts.heartbeatMs > 0) {
    // sofa-rpc-node sends a heartbeat from the per-address health tick
    // (DynamicConfig metric.bucketSizeInMs, 10 s) when the connection has not
    // been used for more than connectionOpts.maxIdleTime (30 s).
    const DynamicConfig = require('sofa-rpc-node/lib/client/dynamic_config');
    DynamicConfig.instance.metric.bucketSizeInMs = opts.heartbeatMs;
  }
  const { RpcClient } = require('sofa-rpc-node').client;
  const connectionOpts = {
    protocol: require('sofa-bolt-node'),
    noDelay: true,
    connectTimeout: 3000,
  };
  if (opts.heartbeatMs > 0) connectionOpts.maxIdleTime = opts.heartbeatMs;
  const client = new RpcClient({ logger, connectionOpts });
  client.on('error', err => logger.warn('client error: %s', err && err.message));
  const consumer = client.createConsumer({
    interfaceName: opts.service,
    version: opts.version,
    serverHost: opts.addr,
    responseTimeout: opts.timeout,
  });
  await consumer.ready();

  const invokeOpts = { responseTimeout: opts.timeout };
  // requestProps replaces sofa-rpc-node's default {service: "<iface>:<version>"}
  if (Object.keys(opts.props).length) invokeOpts.requestProps = Object.assign({}, opts.props);

  let failed = 0;
  const one = async call => {
    try {
      const result = await consumer.invoke(opts.method, args, invokeOpts);
      line({ call, ok: true, result: show(result), error: null, errorName: null });
    } catch (err) {
      failed++;
      line({ call, ok: false, result: null, error: err && err.message, errorName: err && err.name });
    }
  };
  if (opts.parallel) {
    const tasks = [];
    for (let i = 1; i <= opts.n; i++) tasks.push(one(i));
    await Promise.all(tasks);
  } else {
    for (let i = 1; i <= opts.n; i++) await one(i);
  }
  if (opts.idleMs > 0) await sleep(opts.idleMs);
  await client.close();
  return failed;
}

// Oneway: sofa-rpc-node 2.10.0's RpcConsumer/RpcClient always wait for a
// response (no oneway option reaches the encoder). The Bolt codec it uses,
// sofa-bolt-node, encodes type 0x02 (REQUEST_ONEWAY) when req.oneway is set,
// and its own low-level RpcClient exposes oneway(req). That is what we use.
async function runOneway(args) {
  const { RpcClient } = require('sofa-bolt-node');
  const [ host, port ] = opts.addr.split(':');
  const client = new RpcClient({ logger, address: { hostname: host, port: Number(port) } });
  client.on('error', err => logger.warn('client error: %s', err && err.message));
  await client.ready();
  const serverSignature = opts.service + ':' + opts.version;
  let failed = 0;
  for (let i = 1; i <= opts.n; i++) {
    try {
      client.oneway({
        serverSignature,
        methodName: opts.method,
        args,
        timeout: opts.timeout,
        requestProps: Object.keys(opts.props).length ? Object.assign({}, opts.props) : { service: serverSignature },
      });
      line({ call: i, ok: true, result: null, error: null, errorName: null });
    } catch (err) {
      failed++;
      line({ call: i, ok: false, result: null, error: err && err.message, errorName: err && err.name });
    }
  }
  // give the frames time to leave, and any (unexpected) answer time to arrive
  await sleep(Math.max(opts.idleMs, 200));
  await client.close().catch(() => {});
  return failed;
}

(async () => {
  let args;
  try {
    args = buildArgs();
  } catch (err) {
    process.stderr.write(err.message + '\n');
    process.exit(2);
  }
  const failed = opts.oneway ? await runOneway(args) : await runRpc(args);
  process.exit(failed ? 1 : 0);
})().catch(err => {
  process.stderr.write(`client: ${err && err.stack || err}\n`);
  process.exit(1);
});
