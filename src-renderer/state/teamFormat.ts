import type { ImageFilter } from '../../src-main/common/model';
import type { AuditEntry } from '../../src-main/common/team';

/** A duration for the dashboard: "45 s", "3.5 min", "1.2 h". */
export function durationText(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** What a grid filter selects, in words (the images a "Create jobs" form splits). */
export function describeFilter(f: ImageFilter): string {
  const parts: string[] = [];
  if (f.status) parts.push(`status ${f.status.replace('_', ' ')}`);
  if (f.classId !== undefined) parts.push(`class #${f.classId}`);
  if (f.split) parts.push(f.split === 'none' ? 'no split' : `split ${f.split}`);
  if (f.labeled !== undefined) parts.push(f.labeled ? 'labeled' : 'unlabeled');
  if (f.hasPredictions !== undefined) parts.push(f.hasPredictions ? 'with predictions' : 'without predictions');
  if (f.hasOpenComments !== undefined) parts.push(f.hasOpenComments ? 'with open comments' : 'without open comments');
  if (f.ids) parts.push(`${f.ids.length} chosen images`);
  if (f.ranked) parts.push(`${f.ranked.ids.length} images of "${f.ranked.label}"`);
  return parts.length === 0 ? 'all images' : parts.join(', ');
}

const ACTION_WORDS: Record<string, string> = {
  'annotations:edit': 'edited shapes',
  'annotations:undo': 'undid an edit',
  'annotations:redo': 'redid an edit',
  'images:review': 'reviewed',
  'images:setStatus': 'set the status',
  'predictions:accept': 'accepted predictions',
  'predictions:reject': 'rejected predictions',
  'predictions:acceptAbove': 'accepted predictions',
  'lease:take': 'opened for editing',
  'lease:release': 'closed',
};

/** One audit line in words: the action named plainly, with its label, verdict or status when the detail has one. */
export function auditText(e: Pick<AuditEntry, 'action' | 'detail'>): string {
  const what = ACTION_WORDS[e.action] ?? e.action;
  if (!e.detail) return what;
  let detail: unknown;
  try {
    detail = JSON.parse(e.detail);
  } catch {
    return `${what}: ${e.detail.slice(0, 120)}`;
  }
  if (detail && typeof detail === 'object') {
    const d = detail as Record<string, unknown>;
    for (const key of ['label', 'verdict', 'status']) {
      if (typeof d[key] === 'string') return `${what}: ${d[key] as string}`;
    }
  }
  return what;
}
