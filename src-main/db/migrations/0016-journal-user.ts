import type { Migration } from './types';

/** The edit journal records who made each edit (a dataset on a server has several editors). */
export const journalUser: Migration = {
  version: 16,
  name: 'journal-user',
  up: `ALTER TABLE edit_journal ADD COLUMN user_name TEXT;`,
};
