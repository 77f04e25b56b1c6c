import { describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_CONFIG, trainingConfigFromFlags } from './config.ts'

describe('training flags', () => {
  it('defaults match docs/design.md §Training options', () => {
    const c = trainingConfigFromFlags({})
    expect(c.peers).toBe(6)
    expect(c.strategy).toBe('codenet')
    expect(c.model).toEqual([784, 256, 128, 10])
    expect(c.batch).toBe(64)
    expect(c.epochs).toBe(6)
    expect(c.lr).toBe(0.3)
    expect(c.replicas).toBe(3)
    expect(c).toEqual({ ...DEFAULT_CONFIG, model: [784, 256, 128, 10] })
  })

  it('parses every flag', () => {
    const c = trainingConfigFromFlags({
      peers: '8', strategy: 'replication', replicas: '4', model: '784-32-10', activation: 'tanh', batch: '1',
      steps: '100', lr: '0.1', seed: '7', dataset: 'mnist', 'error-rate': '0.01', 'error-kind': 'bitflip',
      'error-magnitude': '2', 'error-model': 'adversarial', 'checkpoint-every': '10', code: 'polydot:m=2,n=2'
    })
    expect(c).toMatchObject({ peers: 8, strategy: 'replication', replicas: 4, model: [784, 32, 10], steps: 100, epochs: null, code: { m: 2, n: 2 } })
  })

  it.each([
    [{ peers: 'six' }, /--peers must be a whole number/],
    [{ strategy: 'magic' }, /--strategy must be one of/],
    [{ code: 'polydot:2x2' }, /--code must look like/],
    [{ 'error-rate': '2' }, /--error-rate must be between 0 and 1/],
    [{ epochs: '1', steps: '3' }, /not both/],
    [{ model: '10-5', dataset: 'mnist' }, /input width is 784/],
    [{ strategy: 'replication', peers: '7' }, /multiple of --replicas/],
    [{ code: 'polydot:m=3,n=3' }, /needs at least m·n = 9 peers/],
    [{ code: 'polydot:m=2,n=1', peers: '2' }, /needs at least 3 peers \(Q_fwd=2, Q_bwd=3\), got 2/]
  ])('rejects bad input %o', (flags, msg) => {
    expect(() => trainingConfigFromFlags(flags as never)).toThrow(ConfigError)
    expect(() => trainingConfigFromFlags(flags as never)).toThrow(msg)
  })
})
