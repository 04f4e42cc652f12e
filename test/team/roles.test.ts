import { describe, expect, it } from 'vitest';
import { argSchemas, CHANNELS, type Channel } from '../../src-main/common/contract';
import { ROLES, type Role } from '../../src-main/common/team';
import { PATH_ARGS } from '../../src-main/services/pathGuard';
import { CHANNEL_EFFECTS, CHANNEL_ROLES, LEASED_CHANNELS } from '../../src-main/team/roles';

describe('team roles', () => {
  it('decides every channel, and nothing else', () => {
    expect(Object.keys(CHANNEL_ROLES).sort()).toEqual([...CHANNELS].sort());
    expect(Object.keys(CHANNEL_EFFECTS).sort()).toEqual([...CHANNELS].sort());
    for (const c of CHANNELS) expect([...ROLES, 'never'], c).toContain(CHANNEL_ROLES[c]);
  });

  it('does not compile a map that leaves a channel out', () => {
    const { 'team:me': _dropped, ...rest } = CHANNEL_ROLES;
    // @ts-expect-error a channel without a decision is a type error
    const incomplete: Record<Channel, Role | 'never'> = rest;
    expect(Object.keys(incomplete)).toHaveLength(CHANNELS.length - 1);
  });

  it('never lets a caller reach another dataset, the server user’s settings or its desktop', () => {
    for (const c of ['dataset:open', 'dataset:create', 'dataset:close', 'dataset:recent', 'dataset:allowExternal', 'dialog:pick', 'app:showInFolder'] as const) {
      expect(CHANNEL_ROLES[c], c).toBe('never');
    }
  });

  it('leaves every channel that names a path on the server to managers, or to nobody', () => {
    for (const c of Object.keys(PATH_ARGS) as Channel[]) expect(['manager', 'never'], c).toContain(CHANNEL_ROLES[c]);
  });

  it('gives the roles the issue names', () => {
    const at = (role: Role | 'never') => CHANNELS.filter((c) => CHANNEL_ROLES[c] === role);
    expect(at('annotator')).toEqual(expect.arrayContaining(['annotations:edit', 'annotations:undo', 'images:setStatus', 'comments:add', 'smart:wand', 'segment:decode', 'team:lease', 'team:myJobs']));
    expect(at('reviewer')).toEqual(expect.arrayContaining(['images:review', 'predictions:accept', 'predictions:reject', 'predictions:acceptAbove', 'team:jobs', 'team:audit']));
    expect(at('manager')).toEqual(
      expect.arrayContaining(['images:import', 'interchange:import', 'interchange:export', 'classes:create', 'classes:delete', 'prelabel:run', 'embeddings:compute', 'versions:create', 'versions:delete', 'splits:assign', 'team:createJobs', 'team:deleteJob', 'team:members', 'team:setRole', 'team:dashboard', 'team:queuePrelabel']),
    );
  });

  it('audits every call that changes the dataset, and no read', () => {
    for (const c of ['annotations:edit', 'images:setStatus', 'images:review', 'predictions:accept', 'predictions:reject', 'classes:create', 'team:createJobs', 'team:setRole', 'images:import'] as const) {
      expect(CHANNEL_EFFECTS[c], c).toBe('change');
    }
    for (const c of ['images:list', 'annotations:list', 'team:audit', 'team:me'] as const) expect(CHANNEL_EFFECTS[c], c).toBe('read');
  });

  it('asks for a lease only on channels that name one image', () => {
    for (const c of LEASED_CHANNELS) {
      const shape = (argSchemas[c] as unknown as { shape: Record<string, unknown> }).shape;
      expect(shape['imageId'], c).toBeDefined();
      expect(CHANNEL_EFFECTS[c], c).toBe('change');
    }
  });
});
