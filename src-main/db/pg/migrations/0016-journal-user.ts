import type { Migration } from '../../migrations/types';

/** The edit journal records who made each edit (several people edit one dataset). */
export const journalUser: Migration = {
  version: 16,
  name: 'journal-user',
  up: `ALTER TABLE edit_journal ADD COLUMN user_name text COLLATE "C";`,
};
