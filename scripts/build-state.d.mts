export interface CliEntry {
  kind: 'build' | 'source';
  /** The module to run: out/main/cli.js, or src-main/cli/bin.ts (through tsx). */
  file: string;
  /** Why the source runs; null for the build. */
  reason: string | null;
}

export function newest(paths: string[], best?: { mtimeMs: number; file: string | null }): { mtimeMs: number; file: string | null };
export function staleness(root: string, built: string, sources: string[]): string | null;
export function cliEntry(root: string, mode?: string): CliEntry;
