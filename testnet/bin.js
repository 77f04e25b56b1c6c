#!/usr/bin/env node
// The `codenet` command. libp2p 3 needs Node >= 22; `npm start`, `npm test` and `npx codenet`
// run the Node 24 that package.json's devDependencies put in node_modules/.bin.
const [major] = process.versions.node.split('.').map(Number)
if (major < 22) {
  console.error(`codenet needs Node >= 22 (this is ${process.version}). Run it as \`npx codenet …\` or \`npm start\` after \`npm install\`, which use the Node 24 from devDependencies.`)
  process.exit(1)
}

// Before anything allocates: V8's collector tuned for peers' short-lived typed arrays
// (node/v8-tuning.ts says why).
const { tuneV8 } = await import('../node/v8-tuning.ts')
tuneV8()

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
