export interface Migration {
  /** Strictly increasing from 1; stored in `PRAGMA user_version` once applied. */
  version: number;
  name: string;
  /** SQL run inside the migration's transaction. */
  up: string;
}
