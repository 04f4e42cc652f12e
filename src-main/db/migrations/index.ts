import { initial } from './0001-initial';
import type { Migration } from './types';

export type { Migration };
export const MIGRATIONS: readonly Migration[] = [initial];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
