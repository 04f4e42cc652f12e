import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { argSchemas, CHANNELS, EVENT_NAMES } from '../../src-main/common/contract';
import { SCHEMA_VERSION } from '../../src-main/db/migrations';
import { dispatch } from '../../src-main/services/dispatch';
import { Workspace } from '../../src-main/services/workspace';
import { repoRoot, tempDir } from '../helpers/shared';

function workspace(): Workspace {
  return new Workspace({ configDir: tempDir(), mode: 'web', version: 'test', emit: () => {} });
}

describe('the IPC contract', () => {
  it('every contract entry has a handler and a schema, and there are no others', () => {
    const ws = workspace();
    expect(Object.keys(ws.handlers).sort()).toEqual([...CHANNELS].sort());
    expect(Object.keys(argSchemas).sort()).toEqual([...CHANNELS].sort());
    for (const c of CHANNELS) expect(typeof ws.handlers[c]).toBe('function');
  });

  it('the preload exposes exactly the contract: one method per entry and the events', () => {
    const src = fs.readFileSync(path.join(repoRoot, 'src-main/preload/index.ts'), 'utf8');
    expect(src).toMatch(/CHANNELS\.map\(/);
    expect(src).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer\s*\)/);
    expect(EVENT_NAMES).toContain('job:progress');
  });

  it('validates arguments and answers with error data carrying a code', async () => {
    const ws = workspace();
    expect(await dispatch(ws.handlers, 'no:such', {})).toMatchObject({ ok: false, error: { code: 'UNKNOWN_CHANNEL' } });
    expect(await dispatch(ws.handlers, 'dataset:open', { path: 42 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(await dispatch(ws.handlers, 'dataset:open', { path: '/x', extra: true })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    });
    expect(await dispatch(ws.handlers, 'images:list', { limit: 1_000_000 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(await dispatch(ws.handlers, 'images:import', { jobId: '../../x', paths: ['/a'] })).toMatchObject({
      ok: false,
      error: { code: 'INVALID_ARGUMENT' },
    });
    expect(await dispatch(ws.handlers, 'images:count', {})).toMatchObject({ ok: false, error: { code: 'NO_DATASET_OPEN' } });
    expect(await dispatch(ws.handlers, 'dialog:pick', { purpose: 'folder' })).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED' } });
    expect(await dispatch(ws.handlers, 'app:showInFolder', { path: '/' })).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED' } });
    expect(await dispatch(ws.handlers, 'app:openTeamServer', { url: 'https://tessera.example.org' })).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED' } });
  });

  it('opens a team server only at an http or https address, at its login page, where the shell offers it', async () => {
    const opened: { origin: string; login: string }[] = [];
    const ws = new Workspace({ configDir: tempDir(), mode: 'electron', version: 't', emit: () => {}, openTeamServer: (s) => opened.push(s) });
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'https://a:b@tessera.example.org', 'tessera']) {
      expect(await dispatch(ws.handlers, 'app:openTeamServer', { url }), url).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    }
    expect(opened).toEqual([]);
    expect(await dispatch(ws.handlers, 'app:openTeamServer', { url: 'http://127.0.0.1:8080/x' })).toEqual({ ok: true, value: { origin: 'http://127.0.0.1:8080' } });
    expect(opened).toEqual([{ origin: 'http://127.0.0.1:8080', login: 'http://127.0.0.1:8080/login' }]);
  });

  it('shows only existing paths in the file manager, where the shell offers it', async () => {
    const shown: string[] = [];
    const ws = new Workspace({ configDir: tempDir(), mode: 'electron', version: 't', emit: () => {}, showInFolder: (p) => shown.push(p) });
    const dir = tempDir();
    expect(await dispatch(ws.handlers, 'app:showInFolder', { path: path.join(dir, 'nope') })).toMatchObject({
      ok: false,
      error: { code: 'FILE_NOT_FOUND' },
    });
    expect(await dispatch(ws.handlers, 'app:showInFolder', { path: dir })).toEqual({ ok: true, value: null });
    expect(shown).toEqual([dir]);
  });

  it('runs a whole session through dispatch: create, import, list, count, status, reopen', async () => {
    const dir = tempDir();
    const ws = workspace();
    const file = path.join(dir, 'd.tessera');
    const created = await dispatch(ws.handlers, 'dataset:create', { path: file });
    expect(created).toMatchObject({ ok: true, value: { path: file, imageCount: 0, schemaVersion: SCHEMA_VERSION } });
    expect(await dispatch(ws.handlers, 'dataset:create', { path: file })).toMatchObject({ ok: false, error: { code: 'DATASET_EXISTS' } });

    const { makeImages } = await import('../helpers/images');
    await makeImages(path.join(dir, 'imgs'));
    const outside = tempDir();
    expect(await dispatch(ws.handlers, 'images:import', { jobId: 'j1', paths: [outside] })).toMatchObject({
      ok: false,
      error: { code: 'PATH_OUTSIDE_ROOT' },
    });
    const imp = await dispatch(ws.handlers, 'images:import', { jobId: 'j2', paths: [path.join(dir, 'imgs')] });
    expect(imp).toMatchObject({ ok: true, value: { imported: 8 } });

    const page = await dispatch(ws.handlers, 'images:list', { offset: 2, limit: 3 });
    expect(page.ok && (page.value as { items: unknown[] }).items).toHaveLength(3);
    const first = await dispatch(ws.handlers, 'images:list', { limit: 1 });
    const id = first.ok ? (first.value as { items: { id: number }[] }).items[0]!.id : -1;
    expect(await dispatch(ws.handlers, 'images:setStatus', { ids: [id], status: 'done' })).toEqual({ ok: true, value: 1 });
    expect(await dispatch(ws.handlers, 'images:count', { filter: { status: 'done' } })).toEqual({ ok: true, value: 1 });
    expect(await dispatch(ws.handlers, 'images:get', { id })).toMatchObject({ ok: true, value: { id, fileState: 'ok', status: 'done' } });
    expect(await dispatch(ws.handlers, 'images:get', { id: 99999 })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await dispatch(ws.handlers, 'classes:create', { name: 'RBC' })).toMatchObject({ ok: true, value: { name: 'RBC', order: 0 } });
    expect(await dispatch(ws.handlers, 'classes:create', { name: 'rbc' })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    await dispatch(ws.handlers, 'dataset:close', {});
    expect(await dispatch(ws.handlers, 'dataset:current', {})).toEqual({ ok: true, value: null });

    // Everything is found again after closing, from a new workspace with the same settings.
    const reopened = await dispatch(ws.handlers, 'dataset:open', { path: file });
    expect(reopened).toMatchObject({ ok: true, value: { imageCount: 8 } });
    const info = await dispatch(ws.handlers, 'dataset:info', {});
    expect(info).toMatchObject({ ok: true, value: { images: { total: 8, byStatus: { done: 1, new: 7 } }, classes: [{ name: 'RBC' }] } });
    const recent = await dispatch(ws.handlers, 'dataset:recent', {});
    expect(recent.ok && (recent.value as { path: string }[])[0]!.path).toBe(file);
  });

  it('cancels a running import through jobs:cancel and writes nothing', async () => {
    const dir = tempDir();
    const events: { jobId: string; phase: string }[] = [];
    const ws = new Workspace({ configDir: dir, mode: 'web', version: 't', emit: (_e, p) => events.push(p as { jobId: string; phase: string }) });
    await dispatch(ws.handlers, 'dataset:create', { path: path.join(dir, 'd.tessera') });
    const { makeImages } = await import('../helpers/images');
    for (let i = 0; i < 6; i++) await makeImages(path.join(dir, `imgs${i}`));
    const running = dispatch(ws.handlers, 'images:import', { jobId: 'big', paths: [dir] });
    expect(await dispatch(ws.handlers, 'jobs:cancel', { jobId: 'big' })).toEqual({ ok: true, value: true });
    expect(await running).toMatchObject({ ok: true, value: { cancelled: true, imported: 0 } });
    expect(await dispatch(ws.handlers, 'images:count', {})).toEqual({ ok: true, value: 0 });
    expect(events.every((e) => e.jobId === 'big')).toBe(true);
    expect(await dispatch(ws.handlers, 'jobs:cancel', { jobId: 'big' })).toEqual({ ok: true, value: false });
  });
});
