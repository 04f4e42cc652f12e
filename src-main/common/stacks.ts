import type { DicomMeta } from './imaging/dicom';

export { INTERPOLATED_ATTRIBUTE, interpolationMark, isInterpolated } from './geometry/interpolate';

/**
 * Stacks: separate image files that are slices of one volume, shown as one grid tile and stepped
 * through in the viewer. A DICOM series (same Series Instance UID) and a numbered sequence of
 * greyscale PNG or TIFF files are stacks; a multi-frame file is one image whose frames are its
 * slices and is not a stack member unless its series holds other files too.
 */
export type StackKind = 'dicom' | 'sequence';

/**
 * How a stack's slices were ordered: along the slice normal by Image Position (Patient), by
 * Instance Number, by file name (DICOM files that state neither), or by the number in the file
 * name (sequences).
 */
export type SliceOrder = 'position' | 'instance' | 'name' | 'number';

export interface StackInfo {
  id: number;
  kind: StackKind;
  name: string;
  order: SliceOrder;
  slices: number;
}

/** What stack planning needs of an image. */
export interface StackCandidate {
  imageId: number;
  /** Stored path ('/' or '\' separated). */
  path: string;
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  format: string;
  frames: number;
  dicom: Pick<DicomMeta, 'seriesInstanceUid' | 'imagePosition' | 'imageOrientation' | 'instanceNumber'> | null;
}

export interface PlannedStack {
  kind: StackKind;
  /** Stable identity: the series UID, or the sequence's folder, pattern and size. */
  key: string;
  name: string;
  order: SliceOrder;
  /** Image ids, first slice first. */
  members: number[];
}

/** Fewest files a numbered sequence needs to be a stack (two same-size scans are not a volume). */
export const MIN_SEQUENCE_FILES = 3;

/**
 * A numbered file name: a prefix not ending in a digit, at least three digits (the slice number,
 * zero-padded to a fixed width), and a PNG or TIFF extension: `slice_0001.png`, `cell0002.tif`.
 */
const SEQUENCE_NAME = /^(.*?)(\d{3,})(\.(?:png|tiff?))$/i;

const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

function splitPath(p: string): { dir: string; base: string } {
  const i = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\'));
  return { dir: i < 0 ? '' : p.slice(0, i), base: i < 0 ? p : p.slice(i + 1) };
}

function cross(a: readonly number[], b: readonly number[]): [number, number, number] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

/**
 * The slices of one series in order: by Image Position (Patient) projected on the slice normal
 * (row × column direction of the first slice's Image Orientation) when every file states both,
 * else by Instance Number when every file states it, else by file name. Ties keep Instance
 * Number, then name order.
 */
export function orderSeries(members: readonly StackCandidate[]): { order: SliceOrder; members: StackCandidate[] } {
  const tie = (a: StackCandidate, b: StackCandidate) =>
    (a.dicom?.instanceNumber ?? 0) - (b.dicom?.instanceNumber ?? 0) || byName(a.path, b.path);
  const orientation = members.find((m) => m.dicom?.imageOrientation)?.dicom?.imageOrientation;
  if (orientation && members.every((m) => m.dicom?.imagePosition)) {
    const normal = cross(orientation.slice(0, 3), orientation.slice(3, 6));
    const along = (m: StackCandidate) => {
      const p = m.dicom!.imagePosition!;
      return p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    };
    return { order: 'position', members: [...members].sort((a, b) => along(a) - along(b) || tie(a, b)) };
  }
  if (members.every((m) => typeof m.dicom?.instanceNumber === 'number')) {
    return { order: 'instance', members: [...members].sort(tie) };
  }
  return { order: 'name', members: [...members].sort((a, b) => byName(a.path, b.path)) };
}

/**
 * The stacks among a dataset's images. DICOM files group by Series Instance UID (two files or
 * more). Other files group as a numbered sequence when they are single-frame greyscale PNG or TIFF
 * files in one folder whose names differ only in the slice number (same prefix, digit count and
 * extension; see SEQUENCE_NAME), with the same size and bit depth, at least MIN_SEQUENCE_FILES of
 * them. Colour files never form a sequence: numbered colour files are photo bursts and video
 * frames (IMG_0001.jpg), labelled as separate pictures.
 */
export function planStacks(images: readonly StackCandidate[]): PlannedStack[] {
  const series = new Map<string, StackCandidate[]>();
  const sequences = new Map<string, { name: string; items: { n: number; c: StackCandidate }[] }>();
  for (const c of images) {
    const uid = c.dicom?.seriesInstanceUid;
    if (c.dicom) {
      if (uid) series.set(uid, [...(series.get(uid) ?? []), c]);
      continue;
    }
    if (c.channels !== 1 || c.frames !== 1 || !['png', 'tiff'].includes(c.format)) continue;
    const { dir, base } = splitPath(c.path);
    const m = SEQUENCE_NAME.exec(base);
    if (!m) continue;
    const [, prefix, digits, ext] = m;
    const pattern = `${prefix}${'#'.repeat(digits!.length)}${ext!.toLowerCase()}`;
    const key = `${dir}/${pattern}|${c.width}x${c.height}|${c.bitDepth}`;
    const group = sequences.get(key) ?? { name: dir ? `${dir}/${pattern}` : pattern, items: [] };
    group.items.push({ n: Number(digits), c });
    sequences.set(key, group);
  }
  const out: PlannedStack[] = [];
  for (const [uid, members] of series) {
    if (members.length < 2) continue;
    const ordered = orderSeries(members);
    const { dir } = splitPath(ordered.members[0]!.path);
    out.push({ kind: 'dicom', key: uid, name: `${dir || '.'} (series …${uid.slice(-8)})`, order: ordered.order, members: ordered.members.map((m) => m.imageId) });
  }
  for (const [key, g] of sequences) {
    if (g.items.length < MIN_SEQUENCE_FILES) continue;
    g.items.sort((a, b) => a.n - b.n || byName(a.c.path, b.c.path));
    out.push({ kind: 'sequence', key, name: g.name, order: 'number', members: g.items.map((i) => i.c.imageId) });
  }
  return out;
}

/** One slice of a stack or multi-frame image: an image and one of its frames. */
export interface SliceRef {
  imageId: number;
  frame: number;
}

/** What a propagation or interpolation wrote. */
export interface SliceEditSummary {
  /** Slices that received shapes. */
  slices: number;
  /** Shapes created. */
  created: number;
  /** Images written to (one undo step each). */
  images: number;
  /** Shapes created, with the slice each landed on. */
  shapes: { id: number; imageId: number; frame: number }[];
  /** Earlier interpolated shapes deleted to make way for the new ones. */
  replaced: number;
}
