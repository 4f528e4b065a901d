// Preloaded with `node --require` into a process under test: on exit, writes every module file the process loaded
// (require.cache) to $RECORD_MODULES_TO, one path a line, so a test can see what an entry point pulled in.
const fs = require('node:fs');
process.on('exit', () => {
  fs.writeFileSync(process.env.RECORD_MODULES_TO, Object.keys(require.cache).join('\n'));
});
