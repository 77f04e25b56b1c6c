#!/usr/bin/env node
// The `codenet` command. libp2p 3 needs Node >= 22; `npm start`, `npm test` and `npx codenet`
// run the Node 24 that package.json's devDependencies put in node_modules/.bin.
const [major] = process.versions.node.split('.').map(Number)
if (major < 22) {
  console.error(`codenet needs Node >= 22 (this is ${process.version}). Run it as \`npx codenet …\` or \`npm start\` after \`npm install\`, which use the Node 24 from devDependencies.`)
  process.exit(1)
}
const { main } = await import('./cli.ts')
process.exitCode = await main(process.argv.slice(2))
