import { call } from '../bridge';

/**
 * The image open in the viewer, remembered so a reload (or, on the desktop, a restart) comes back
 * to it: in the page's URL hash (`#image=<id>`, per tab, survives a reload) and in the dataset
 * (`dataset:setOpenImage`). The frame is remembered per image already (images:viewedFrame).
 */
const HASH = /^#image=(\d{1,15})$/;

export function rememberOpenImage(id: number | null): void {
  try {
    const url = `${window.location.pathname}${window.location.search}${id === null ? '' : `#image=${id}`}`;
    if (window.location.hash !== (id === null ? '' : `#image=${id}`)) window.history.replaceState(window.history.state, '', url);
  } catch {
    // A page that cannot change its URL keeps the dataset's record.
  }
  call('dataset:setOpenImage', { id }).catch(() => {
    // Only a convenience: the dataset may be closing or read-only.
  });
}

/**
 * The image to come back to, null for the grid: this tab's (the URL hash, `fromHash`: a reload),
 * else the dataset's record (`fromDataset`: the desktop app, whose window is the only one; in
 * browser mode another tab or a new one starts on the grid).
 */
export async function openImageToRestore(opts: { fromHash: boolean; fromDataset: boolean }): Promise<{ id: number; index: number | null } | null> {
  const m = opts.fromHash ? HASH.exec(window.location.hash) : null;
  if (m) {
    const id = Number(m[1]);
    return { id, index: await call('images:locate', { id, filter: {} }) };
  }
  return opts.fromDataset ? call('dataset:openImage', {}) : null;
}
