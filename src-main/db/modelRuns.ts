import type { Db } from './open';

export interface NewModelRun {
  model: string;
  name?: string;
  parameters?: Record<string, unknown>;
  provider?: string;
}

export async function insertModelRun(db: Db, run: NewModelRun, now = Date.now()): Promise<number> {
  const info = await db
    .prepare('INSERT INTO model_runs (model, name, parameters, provider, started_at) VALUES (?, ?, ?, ?, ?) RETURNING id')
    .pluck()
    .get(run.model, run.name ?? null, JSON.stringify(run.parameters ?? {}), run.provider ?? null, now);
  return info as number;
}

export async function finishModelRun(db: Db, id: number, status: 'done' | 'failed' | 'cancelled', now = Date.now()): Promise<void> {
  await db.prepare('UPDATE model_runs SET status = ?, finished_at = ? WHERE id = ?').run(status, now, id);
}

export async function countModelRuns(db: Db): Promise<number> {
  return await db.prepare('SELECT count(*) FROM model_runs').pluck().get() as number;
}
