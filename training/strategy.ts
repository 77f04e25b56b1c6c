/**
 * Strategies behind one interface: each maps to a `CodeScheme`, and one step code path
 * (peer.ts) runs all of them.
 *   codenet      Generalized PolyDot shards (`--code`, or chooseCode(P)); every peer decodes
 *                by itself, corrects errors, updates its shard in place, never re-encodes
 *   replication  each of P/R blocks on R peers (`--replicas R`); majority vote
 *   uncoded      P blocks, one per peer, no redundancy: errors go through unnoticed
 */
import { chooseCode, createScheme } from '../codes/index.ts'
import type { CodeScheme } from '../codes/scheme.ts'
import type { TrainingConfig } from './config.ts'

export function schemeForConfig (c: Pick<TrainingConfig, 'strategy' | 'peers' | 'code' | 'replicas'>): CodeScheme {
  switch (c.strategy) {
    case 'codenet': {
      const code = c.code ?? chooseCode(c.peers)
      return createScheme({ kind: 'polydot', peers: c.peers, m: code.m, n: code.n })
    }
    case 'replication':
      return createScheme({ kind: 'replication', peers: c.peers, replicas: c.replicas })
    case 'uncoded':
      return createScheme({ kind: 'uncoded', peers: c.peers })
  }
}

/** The code description of the summary JSON. */
export function codeSummary (s: CodeScheme): { scheme: string, m: number, n: number, recoveryThreshold: { forward: number, backward: number } } {
  return { scheme: s.kind, m: s.m, n: s.n, recoveryThreshold: { ...s.recoveryThreshold } }
}
