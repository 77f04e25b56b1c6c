#!/usr/bin/env node
// The `codenet` command. libp2p 3 needs Node >= 22; `npm start`, `npm test` and `npx codenet`
// run the Node 24 that package.json's devDependencies put in node_modules/.bin.
const [major] = process.versions.node.split('.').map(Number)
if (major < 22) {
  console.error(`codenet needs Node >= 22 (this is ${process.version}). Run it as \`npx codenet …\` or \`npm start\` after \`npm install\`, which use the Node 24 from devDependencies.`)
  process.exit(1)
}

// A step allocates tens of MB of typed arrays (results in and out, frames, the layers' maths)
// that die within a step or two. V8 by default starts a full mark-compact every time its
// "external" (ArrayBuffer) memory grows 64 MB past the last one: every second step on a peer, and
// on two cores the concurrent marking took ~40 % of all CPU (perf, six peers). Counting that
// memory in the heap's global limit instead lets the cheap young-generation collections free it
// and cut a testnet's CPU per step by a third (docs/performance.md, "Garbage collection").
// The flag exists from V8 13 (Node 24); older V8s would print an error for it.
if (Number(process.versions.v8.split('.')[0]) >= 13) {
  const { setFlagsFromString } = await import('node:v8')
  setFlagsFromString('--external-memory-accounted-in-global-limit')
}

// Whatever escapes a command (an error thrown from a callback, a rejected promise nobody
// awaited, a module that fails to load): one line `codenet <cmd>: <name>: <message>` and exit 1,
// never a stack trace (CODENET_DEBUG=1 prints it too).
const prefix = /^[a-z]+$/.test(process.argv[2] ?? '') ? `codenet ${process.argv[2]}` : 'codenet'
const fatal = (err) => {
  const e = err instanceof Error ? err : new Error(String(err))
  const message = String(e.message).split('\n').map(l => l.trim()).filter(l => l !== '').join(' ')
  process.stderr.write(`${prefix}: ${e.name}: ${message.length > 1000 ? `${message.slice(0, 1000)}…` : message}\n`)
  if (process.env.CODENET_DEBUG === '1' && e.stack !== undefined) process.stderr.write(`${e.stack}\n`)
  process.exit(1)
}
process.on('uncaughtException', fatal)
process.on('unhandledRejection', fatal)

try {
  const { main } = await import('./cli.ts')
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  fatal(err)
}
