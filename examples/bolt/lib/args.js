'use strict';
// Shared command-line walking for server.js and client.js: "--flag value"
// and "--flag=value". onFlag(name, next) handles one flag (next() returns
// its value) and returns false for a flag it does not know.
function walkArgs(argv, usage, onFlag) {
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let val;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (val !== undefined) return val;
      if (i + 1 >= argv.length) {
        process.stderr.write(`missing value for ${a}\n`);
        usage(2);
      }
      return argv[++i];
    };
    if (a === '-h' || a === '--help') usage(0);
    if (!onFlag(a, next)) {
      process.stderr.write(`unknown flag: ${a}\n`);
      usage(2);
    }
  }
}

// checkHessianVersion exits with usage when v is not a dialect both peers know.
function checkHessianVersion(v, usage) {
  if (![ '3.0', '4.0' ].includes(v)) {
    process.stderr.write('bad --hessian-version, want 3.0 or 4.0\n');
    usage(2);
  }
}

module.exports = { walkArgs, checkHessianVersion };
