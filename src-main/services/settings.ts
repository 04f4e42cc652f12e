import fs from 'node:fs';
import path from 'node:path';
import type { RecentDataset } from '../common/model';

const MAX_RECENT = 12;

/** Per-user settings kept outside any dataset: the list of recently opened datasets. */
export class Settings {
  constructor(private readonly dir: string) {}

  private get file(): string {
    return path.join(this.dir, 'recent.json');
  }

  recent(): RecentDataset[] {
    try {
      const data = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (!Array.isArray(data)) return [];
      return data.filter(
        (r): r is RecentDataset =>
          typeof r === 'object' && r !== null && typeof r.path === 'string' && typeof r.name === 'string' && typeof r.openedAt === 'number',
      );
    } catch {
      return [];
    }
  }

  addRecent(entry: RecentDataset): void {
    const list = [entry, ...this.recent().filter((r) => r.path !== entry.path)].slice(0, MAX_RECENT);
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(list, null, 2));
      fs.renameSync(tmp, this.file);
    } catch {
      // The recent list is a convenience; failing to write it must not fail opening a dataset.
    }
  }
}
