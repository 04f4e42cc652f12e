/**
 * The names of the IPC contract, kept free of imports so the sandboxed preload can bundle them
 * alone. `contract.ts` gives each its argument schema and result type.
 */
export const CHANNELS = [
  'app:info',
  'dataset:create',
  'dataset:open',
  'dataset:close',
  'dataset:current',
  'dataset:info',
  'dataset:recent',
  'images:import',
  'images:list',
  'images:count',
  'images:get',
  'images:setStatus',
  'images:findNext',
  'classes:list',
  'classes:create',
  'classes:update',
  'classes:reorder',
  'classes:delete',
  'annotations:list',
  'annotations:edit',
  'annotations:undo',
  'annotations:redo',
  'annotations:history',
  'interchange:inspect',
  'interchange:import',
  'interchange:export',
  'splits:assign',
  'models:list',
  'models:inspect',
  'models:add',
  'models:download',
  'models:try',
  'prelabel:run',
  'prelabel:resume',
  'prelabel:unfinished',
  'predictions:accept',
  'predictions:reject',
  'predictions:acceptAbove',
  'classmap:get',
  'classmap:set',
  'jobs:cancel',
  'dialog:pick',
  'app:showInFolder',
] as const;

export type Channel = (typeof CHANNELS)[number];

/** Events pushed from the main process to the renderer. */
export const EVENT_NAMES = ['job:progress'] as const;
export type EventName = (typeof EVENT_NAMES)[number];
