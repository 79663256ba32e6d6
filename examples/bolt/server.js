#!/usr/bin/env node
'use strict';
const { walkArgs, checkHessianVersion } = require('./lib/args');

// SOFA Bolt v1 (SOFARPC) demo server built on sofa-rpc-node's RpcServer.
// Direct mode only: no registry (ZooKeeper) is used, nothing is published.
//
//   node server.js --port 26200 --instance server-1
//
// Publishes org.meshproto.demo.BoltEcho, version 1.0.0, so the Bolt request
// header map entry `service` is `org.meshproto.demo.BoltEcho:1.0.0`.

const net = require('net');
const { RpcServer } = require('sofa-rpc-node').server;

const SERVICE = 'org.meshproto.demo.BoltEcho';
const VERSION = '1.0.0';

function usage(code) {
  const text = `usage: node server.js [flags]
  --port N          TCP port to listen on (default 26200; 0 = any free port)
  --host H          address to bind (default 127.0.0.1)
  --instance NAME   instance name echoed back by echo() (default server-<port>)
  --version V       service version to publish (default ${VERSION})
  --max-idle-ms N   close connections idle for N ms (sofa-rpc-node default 90000)
  --hessian-version 3.0|4.0
                    hessian dialect of sofa-bolt-node (default 3.0, sofa-rpc-node's default:
                    the Hessian 2 draft of Java hessian 3.1.3; 4.0 = Hessian 2.0 final).
                    Client and server must use the same one.
  --verbose         print sofa-rpc-node's info and error logs and per-request lines on stderr (its warnings, such as a dropped connection, always are)
  -h, --help        this text
`;
  (code ? process.stderr : process.stdout).write(text);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = { port: 26200, host: '127.0.0.1', instance: '', version: VERSION, maxIdleMs: 90000, hessianVersion: '3.0', verbose: false };
  walkArgs(argv, usage, (a, next) => {
    switch (a) {
      case '--port': opts.port = Number(next()); return true;
      case '--host': opts.host = next(); return true;
      case '--instance': opts.instance = next(); return true;
      case '--version': opts.version = next(); return true;
      case '--max-idle-ms': opts.maxIdleMs = Number(next()); return true;
      case '--hessian-version': opts.hessianVersion = next(); return true;
      case '--verbose': opts.verbose = true; return true;
      default:
        // a bare number is taken as the port, e.g. `node server.js 26200`
        if (/^\d+$/.test(a)) {
          opts.port = Number(a);
          return true;
        }
        return false;
    }
  });
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    process.stderr.write('bad --port\n');
    usage(2);
  }
  checkHessianVersion(opts.hessianVersion, usage);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
// sofa-bolt-node keeps the hessian dialect as a process-wide setting.
require('sofa-bolt-node').setOptions({ hessianVersion: opts.hessianVersion });

// sofa-rpc-node wants a logger; keep stdout clean (it carries `ready <port>`).
function makeLogger(verbose) {
  const out = (level, args) => {
    process.stderr.write(`[server ${level}] ` + require('util').format(...args) + '\n');
  };
  return {
    debug() {},
    info(...args) { if (verbose) out('info', args); },
    // Always: sofa-rpc-node warns when it drops a connection (a decode or
    // encode error, idle), which is what a test needs to see when a
    // shared upstream connection goes away.
    warn(...args) { out('warn', args); },
    error(...args) {
      // business errors from fail() are logged by RpcService at error level
      if (verbose) out('error', args);
    },
  };
}

class EchoServer extends RpcServer {
  // sofa-rpc-node calls each service method with `this` bound to the object
  // returned by createContext(req, res). The default returns null; returning
  // an object here is how a handler gets at the SOFARPC request props
  // (req.data.requestProps, decoded from SofaRequest.requestProps in the
  // hessian2 body) and the rest of the decoded request.
  createContext(req, res) {
    return {
      req,
      res,
      requestProps: req.data.requestProps || {},
      requestId: req.packetId,
      timeout: req.options && req.options.timeout,
      logger: this.logger,
    };
  }

  // RpcServer._startServer() calls server.listen(port) on every interface;
  // this copy only adds the bind address.
  _startServer(port) {
    const server = net.createServer();
    server.once('error', err => { this.emit('error', err); });
    server.on('connection', socket => { this._handleSocket(socket); });
    server.listen(port, this.options.host, () => {
      const realPort = server.address().port;
      if (port === this.publishPort && port === 0) {
        this.publishPort = realPort;
      }
      this.logger.info('[RpcServer] server start on %s:%s', this.options.host, realPort);
    });
    return server;
  }
}

const logger = makeLogger(opts.verbose);
const server = new EchoServer({
  logger,
  port: opts.port,
  host: opts.host,
  maxIdleTime: opts.maxIdleMs,
  // no registry: direct mode
});

let instance = opts.instance;

server.addService({ interfaceName: SERVICE, version: opts.version }, {
  // Each method must be an `async` function (sofa-rpc-node checks
  // is.asyncFunction and answers "Can not find method" otherwise).
  async echo(s) {
    return `${s} [${instance}]`;
  },

  async fail() {
    const err = new Error(`fail() called on ${instance}`);
    err.name = 'BoltEchoFailure';
    err.ignoreLog = true;
    throw err;
  },

  async sleep(ms) {
    ms = Number(ms) || 0;
    await new Promise(resolve => setTimeout(resolve, ms));
    return `slept ${ms}ms [${instance}]`;
  },

  // Returns the SOFARPC request props the server decoded from the request.
  async props() {
    const props = (this && this.requestProps) || {};
    const out = {};
    for (const k of Object.keys(props)) {
      const v = props[k];
      out[k] = v == null ? v : (typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
    return out;
  },
});

if (opts.verbose) {
  server.on('request', ({ req }) => {
    process.stderr.write(`[server] request id=${req.packetId} ${req.data.serverSignature}#${req.data.methodName} ` +
      `timeout=${req.options.timeout} props=${JSON.stringify(req.data.requestProps)}\n`);
  });
}
server.on('error', err => {
  if (opts.verbose) process.stderr.write(`[server] error: ${err && err.message}\n`);
});

let closing = false;
async function shutdown(sig) {
  if (closing) return;
  closing = true;
  if (opts.verbose) process.stderr.write(`[server] ${sig}: closing\n`);
  const hard = setTimeout(() => process.exit(0), 2000);
  hard.unref();
  try {
    await server.close();
  } catch (_) {
    // ignore
  }
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.start().then(() => {
  const port = server._servers[0].address().port;
  if (!instance) instance = `server-${port}`;
  process.stdout.write(`ready ${port}\n`);
}, err => {
  process.stderr.write(`[server] start failed: ${err && err.message}\n`);
  process.exit(1);
});
