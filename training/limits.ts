/**
 * Caps that bound what one job may ask of a peer's memory and time. Job files, flags
 * (training/config.ts) and restored checkpoints (training/checkpoint.ts) are all checked
 * against them; docs/peer.md §Input validation gives the reasons.
 */
export const LIMITS = Object.freeze({
  /**
   * The decoder's false-accept guarantees are measured for P ≤ 16 and worst-case condition
   * numbers to P = 30 (docs/codes.md); checking a code for 64 peers takes up to ~8 s, and the
   * code search grows fast beyond (1,000 peers ran for minutes).
   */
  peers: 64,
  /** Layer widths, input and output included. */
  layers: 32,
  width: 65536,
  /**
   * Σ N_l·N_{l+1}. Every peer decodes the whole model at the end and exports it as JSON
   * (~20 characters a float64); a V8 string holds < 2^29 characters.
   */
  parameters: 2 ** 24,
  /** Labels are bytes; softmax needs two classes. */
  classes: 256,
  batch: 65536,
  /** B·Σ N_l floats: the activations and deltas a peer keeps for one step (128 MiB). */
  activations: 2 ** 24,
  /** P·B·max N_l floats: the results of one round a peer may hold at once (512 MiB). */
  roundResults: 2 ** 26,
  /** --steps, and so the largest step a checkpoint can hold. */
  steps: 1e9
})
