// Starts kinesalite or dynalite (installed by scripts/localstack.sh into .cache/node) bound to 127.0.0.1.
// Their own CLIs listen on every interface; this launcher does not.
//
//   node scripts/emulators.js kinesalite PORT
//   node scripts/emulators.js dynalite PORT
'use strict'
const path = require('path')
const [which, portArg] = process.argv.slice(2)
const port = parseInt(portArg, 10)
if (!['kinesalite', 'dynalite'].includes(which) || !(port > 0)) {
  console.error('usage: node emulators.js kinesalite|dynalite PORT')
  process.exit(2)
}
const modules = process.env.KCLGO_NODE_MODULES || path.join(__dirname, '..', '.cache', 'node', 'node_modules')
const create = require(path.join(modules, which))
// Small delays: streams and tables become ACTIVE quickly, splits finish quickly.
const opts = which === 'kinesalite'
  ? { createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50, shardLimit: 100 }
  : { createTableMs: 50, deleteTableMs: 50, updateTableMs: 50 }
const server = create(opts).listen(port, '127.0.0.1', () => {
  const a = server.address()
  console.log('%s listening at http://%s:%d', which, a.address, a.port)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
