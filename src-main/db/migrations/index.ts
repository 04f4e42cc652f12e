import { initial } from './0001-initial';
import { editing } from './0002-editing';
import type { Migration } from './types';

export type { Migration };
export const MIGRATIONS: readonly Migration[] = [initial, editing];
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
