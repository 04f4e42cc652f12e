import type { Migration } from '../../migrations/types';
import { schema } from './0015-schema';
import { journalUser } from './0016-journal-user';
import { teamWork } from './0017-team-work';
import { teamWorkers } from './0018-team-workers';

/**
 * PostgreSQL migrations. Version numbers are the SQLite ones: a PostgreSQL dataset starts at 15
 * (the whole SQLite schema of version 15 at once) and follows every later SQLite migration with
 * one of the same number.
 */
export const PG_MIGRATIONS: readonly Migration[] = [schema, journalUser, teamWork, teamWorkers];
export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;
