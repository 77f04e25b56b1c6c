/**
 * Typed errors of the coding layer. Configuration problems are refused at scheme
 * creation; decoding failures are normally reported through `DecodeResult { ok: false }`
 * and only thrown by the calls that must return a value (repair, weight decoding).
 */

/** A code that cannot be built: bad parameters, too few peers, failed derivation. */
export class CodeConfigError extends Error {
  override name = 'CodeConfigError'
}

/** The worst-case decoding condition number exceeds the configured budget. */
export class ConditionBudgetError extends CodeConfigError {
  override name = 'ConditionBudgetError'
  readonly limit: number
  readonly measured: number
  constructor (message: string, limit: number, measured: number) {
    super(message)
    this.limit = limit
    this.measured = measured
  }
}

/** Bad arguments to an encode/decode call (unknown peer, wrong shapes). */
export class CodeInputError extends Error {
  override name = 'CodeInputError'
}

/** Not enough mutually consistent data to produce a trustworthy value. */
export class UncorrectableError extends Error {
  override name = 'UncorrectableError'
  readonly suspects: number[]
  constructor (message: string, suspects: number[] = []) {
    super(message)
    this.suspects = suspects
  }
}
