import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { ThreadSettings } from '../common/inference/types';

/**
 * Thread settings for onnxruntime sessions, chosen for the machine and the caller. This module
 * does not load onnxruntime, so the services may import it directly.
 */

let cores: number | null = null;

/**
 * Physical cores this process may use: onnxruntime's own default for intra-op threads, as
 * hyper-threads add little to a model run. Linux counts distinct (package, core) pairs in
 * /proc/cpuinfo, macOS asks sysctl; elsewhere, or when that fails, every logical core counts.
 * Never more than os.availableParallelism() (CPU affinity, container limits).
 */
export function physicalCores(): number {
  if (cores !== null) return cores;
  const logical = Math.max(1, os.availableParallelism());
  let physical = 0;
  try {
    if (process.platform === 'linux') {
      const pairs = new Set<string>();
      let pkg = '';
      for (const line of fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
        const m = /^(physical id|core id)\s*:\s*(\d+)/.exec(line);
        if (!m) continue;
        if (m[1] === 'physical id') pkg = m[2]!;
        else pairs.add(`${pkg}:${m[2]}`);
      }
      physical = pairs.size;
    } else if (process.platform === 'darwin') {
      physical = Number(execFileSync('sysctl', ['-n', 'hw.physicalcpu'], { encoding: 'utf8', timeout: 2000 }).trim());
    }
  } catch {
    physical = 0;
  }
  cores = Number.isInteger(physical) && physical > 0 ? Math.min(physical, logical) : logical;
  return cores;
}

/**
 * Who runs the model: 'app' (the desktop app and browser mode, whose UI shares the cores) or
 * 'batch' (the command line, which has the machine to itself).
 */
export type ThreadProfile = 'app' | 'batch';

/**
 * Physical cores a batch run needs before its idle threads spin by default. On fewer, decoding
 * and the rest of the machine need those cores: on 2 cores, `npm run bench:threads` measured
 * spinning 1.6–1.8× slower beside one busy neighbour, and slower alone in most runs.
 */
export const SPIN_MIN_CORES = 4;

/**
 * The settings a session gets: the ones given, the rest from the profile. Both profiles use one
 * intra-op thread per physical core; only a batch run on a machine of SPIN_MIN_CORES or more lets
 * idle threads spin, since a spinning thread steals the core from the UI (and from any other
 * process) between the operators of a run.
 */
export function threadSettings(profile: ThreadProfile, given: { threads?: number | undefined; spinning?: boolean | undefined } = {}): ThreadSettings {
  const threads = given.threads ?? physicalCores();
  if (given.spinning !== undefined) return { threads, spinning: given.spinning };
  return { threads, spinning: profile === 'batch' ? physicalCores() >= SPIN_MIN_CORES : false };
}
