/** What every bench records about the machine and the run: load, CPUs, Node, wall time. */
import { availableParallelism, cpus, loadavg } from 'node:os'

export interface MachineInfo {
  loadAverage: { start: number, end: number }
  cpus: number
  cpuModel: string
  node: string
  wallSeconds: number
}

/** The machine now, for a bench that started at `started` (performance.now()) with 1-minute load `loadStart`. */
export function machineInfo (loadStart: number, started: number): MachineInfo {
  return {
    loadAverage: { start: loadStart, end: loadavg()[0] },
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    wallSeconds: (performance.now() - started) / 1000
  }
}

/** The bench table's closing line about the machine. */
export function machineLine (res: MachineInfo & { quick: boolean }): string {
  return `load average ${res.loadAverage.start.toFixed(2)} at start, ${res.loadAverage.end.toFixed(2)} at end, ${res.cpus} CPUs (${res.cpuModel}), ${res.wallSeconds.toFixed(1)} s${res.quick ? '; quick mode: not the official figure' : ''}`
}
