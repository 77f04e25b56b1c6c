// Property tests (fast-check) draw their cases from one fixed seed so CI sees the same cases
// every run; CODENET_FC_SEED=random (or a number) explores other cases, and a failure prints
// its seed and path for replay.
import fc from 'fast-check'

const env = process.env.CODENET_FC_SEED
const seed = env === 'random' ? Date.now() ^ (Math.random() * 0x7fffffff) : env !== undefined ? Number(env) : 20261121
fc.configureGlobal({ seed })
