import type { Db } from './open';

export interface NewModelRun {
  model: string;
  name?: string;
  parameters?: Record<string, unknown>;
  provider?: string;
}

export function insertModelRun(db: Db, run: NewModelRun, now = Date.now()): number {
  const info = db
    .prepare('INSERT INTO model_runs (model, name, parameters, provider, started_at) VALUES (?, ?, ?, ?, ?)')
    .run(run.model, run.name ?? null, JSON.stringify(run.parameters ?? {}), run.provider ?? null, now);
  return Number(info.lastInsertRowid);
}

export function finishModelRun(db: Db, id: number, status: 'done' | 'failed' | 'cancelled', now = Date.now()): void {
  db.prepare('UPDATE model_runs SET status = ?, finished_at = ? WHERE id = ?').run(status, now, id);
}

export function countModelRuns(db: Db): number {
  return db.prepare('SELECT count(*) FROM model_runs').pluck().get() as number;
}
