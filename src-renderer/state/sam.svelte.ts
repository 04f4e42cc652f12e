import type { SamModelEntry, SegmentRegion, SegmentResult } from '../../src-main/common/segment';
import { call, errorMessage } from '../bridge';
import type { SamCommitKind, SamInfo, Segmenter, SegmentPrompt } from '../editor/tools/sam';
import { app, type AppState } from './app.svelte';
import { editorState, type EditorState } from './editor.svelte';

const MODEL_KEY = 'tessera.segment.model';
const COMMIT_KEY = 'tessera.segment.commitAs';
const HOVER_KEY = 'tessera.segment.hover';
/** How long the frame shown must stay before its embedding is computed ahead of a click. */
const FRAME_SETTLE_MS = 200;

function saved(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function save(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // A browser without storage forgets the choice; nothing else depends on it.
  }
}

/**
 * The segment tool's model and what the toolbar shows about it: the SAM-family models the
 * backend knows, the one chosen (remembered), the embedding being computed, and the answer on
 * screen. It is the editor's Segmenter: the tool asks it for masks, and it encodes the image
 * (and the next one in the grid's order) ahead of the first click.
 */
export class SamState implements Segmenter {
  models = $state.raw<SamModelEntry[]>([]);
  modelId = $state<string | null>(saved(MODEL_KEY));
  /** Why the list could not be read, shown instead of the selector. */
  listError = $state<string | null>(null);
  /** What the encoder is doing for the image on screen: 'encoding', 'ready', or an error message. */
  encodeState = $state<{ imageId: number; text: string; kind: 'busy' | 'ready' | 'error' } | null>(null);
  info = $state.raw<SamInfo | null>(null);
  waiting = $state(false);
  commitAs = $state<SamCommitKind>(saved(COMMIT_KEY) === 'mask' ? 'mask' : 'polygon');
  tolerance = $state(1);
  hover = $state(saved(HOVER_KEY) !== 'off');
  /** Supplied by the viewer: the visible region of an image drawn from its tile pyramid, else undefined. */
  regionOf: (() => SegmentRegion | undefined) | null = null;

  private listing: Promise<SamModelEntry[]> | null = null;
  private prepared: { imageId: number; frame: number } | null = null;
  private frameTimer: ReturnType<typeof setTimeout> | null = null;
  /** Embeddings asked for (model, image, frame, region), so moving between tools does not ask twice. */
  private readonly encoded = new Map<string, Promise<unknown>>();

  constructor(
    private readonly appState: AppState,
    private readonly es: EditorState,
  ) {
    const tool = es.editor.samTool;
    tool.commitAs = this.commitAs;
    tool.hoverPreview = this.hover;
    es.editor.segmenter = this;
    es.editor.events.on('change', () => {
      this.info = tool.info;
      this.waiting = tool.waiting;
    });
  }

  get model(): SamModelEntry | null {
    return this.models.find((m) => m.manifest.id === this.modelId) ?? null;
  }

  /** Reads the model list (once; `refresh` reads it again, e.g. after adding or downloading one). */
  loadModels(refresh = false): Promise<SamModelEntry[]> {
    if (this.listing && !refresh) return this.listing;
    const p = call('segment:models', {}).then(
      (list) => {
        this.models = list;
        this.listError = null;
        // Keep the user's choice while it exists; else the first model that is on disk.
        const usable = (m: SamModelEntry) => m.encoderPath !== null && m.decoderPath !== null;
        const explicit = this.modelId !== null && saved(MODEL_KEY) === this.modelId && list.some((m) => m.manifest.id === this.modelId);
        if (!explicit && !list.some((m) => m.manifest.id === this.modelId && usable(m))) {
          const first = list.find(usable) ?? list[0];
          this.modelId = first?.manifest.id ?? null;
        }
        return list;
      },
      (e: unknown) => {
        this.listing = null;
        this.listError = errorMessage(e);
        throw e;
      },
    );
    this.listing = p;
    return p;
  }

  choose(id: string): void {
    this.modelId = id;
    save(MODEL_KEY, id);
    this.es.editor.samTool.cancel();
    const img = this.es.editor.image;
    if (img && this.es.editor.toolName === 'sam') this.prepare(img.id, this.es.editor.frame);
  }

  setCommitAs(kind: SamCommitKind): void {
    this.commitAs = kind;
    save(COMMIT_KEY, kind);
    this.es.editor.samTool.setCommitAs(kind);
  }

  setHover(on: boolean): void {
    this.hover = on;
    save(HOVER_KEY, on ? 'on' : 'off');
    this.es.editor.samTool.hoverPreview = on;
  }

  setTolerance(px: number): void {
    if (!Number.isFinite(px) || px < 0) return;
    this.tolerance = px;
    this.es.editor.samTool.setTolerance(px);
  }

  region(): SegmentRegion | undefined {
    return this.regionOf?.() ?? undefined;
  }

  /** The chosen model, ready to run; throws with what the user has to do otherwise. */
  private async ready(): Promise<SamModelEntry> {
    let list = await this.loadModels();
    // A model added or downloaded since the list was read: read it again before giving up.
    if (!list.some((x) => x.manifest.id === this.modelId && x.encoderPath && x.decoderPath)) list = await this.loadModels(true);
    const m = list.find((x) => x.manifest.id === this.modelId);
    if (!m) throw new Error(list.length === 0 ? 'No segmentation model: add a SAM encoder/decoder pair in the model panel' : 'Choose a segmentation model');
    if (!m.encoderPath || !m.decoderPath) throw new Error(`${m.manifest.name} is not downloaded: download it in the model panel first`);
    return m;
  }

  async decode(prompt: SegmentPrompt): Promise<SegmentResult> {
    const m = await this.ready();
    return call('segment:decode', { ...prompt, modelId: m.manifest.id });
  }

  prepare(imageId: number, frame: number): void {
    if (this.frameTimer !== null) clearTimeout(this.frameTimer);
    this.frameTimer = null;
    // Stepping through the frames of a stack (keys, wheel) encodes the frame it stops on, not each one passed.
    const frameChange = this.prepared !== null && this.prepared.imageId === imageId && this.prepared.frame !== frame;
    this.prepared = { imageId, frame };
    if (frameChange) {
      this.frameTimer = setTimeout(() => {
        this.frameTimer = null;
        const e = this.es.editor;
        if (e.image?.id === imageId && e.frame === frame && e.toolName === 'sam') void this.encodeNow(imageId, frame);
      }, FRAME_SETTLE_MS);
      return;
    }
    void this.encodeNow(imageId, frame);
  }

  private async encodeNow(imageId: number, frame: number): Promise<void> {
    let m: SamModelEntry;
    try {
      m = await this.ready();
    } catch (e) {
      this.encodeState = { imageId, text: errorMessage(e), kind: 'error' };
      this.appState.say(errorMessage(e), 'error');
      return;
    }
    const region = this.region();
    const key = `${this.dataset()}|${m.manifest.id}|${imageId}|${frame}|${region ? `${region.x},${region.y},${region.w},${region.h}` : ''}`;
    let job = this.encoded.get(key);
    const fresh = job === undefined;
    if (!job) {
      this.encodeState = { imageId, text: 'encoding…', kind: 'busy' };
      job = call('segment:encode', { imageId, frame, modelId: m.manifest.id, ...(region ? { region } : {}) });
      this.encoded.set(key, job);
    }
    try {
      const r = (await job) as Awaited<ReturnType<typeof call<'segment:encode'>>>;
      if (this.es.editor.image?.id === imageId) {
        this.encodeState = { imageId, text: r.cached || !fresh ? 'ready' : `ready (encoded in ${Math.round(r.encodeMs)} ms)`, kind: 'ready' };
        for (const w of r.warnings) this.appState.say(w, 'error');
      }
    } catch (e) {
      this.encoded.delete(key);
      const text = `Encoding the image failed: ${errorMessage(e)}`;
      if (this.es.editor.image?.id === imageId) {
        this.encodeState = { imageId, text, kind: 'error' };
        this.appState.say(text, 'error');
      }
      return;
    }
    this.encodeAhead(m, imageId);
  }

  /** The next image in the grid's order, encoded while the user works on this one. */
  private encodeAhead(m: SamModelEntry, imageId: number): void {
    const v = this.appState.viewer;
    if (v.item?.id !== imageId || v.index === null) return;
    const next = this.appState.dataset.itemAt(v.index + 1);
    if (!next) return;
    const key = `${this.dataset()}|${m.manifest.id}|${next.id}|0|`;
    if (this.encoded.has(key)) return;
    const job = call('segment:encode', { imageId: next.id, frame: 0, modelId: m.manifest.id });
    this.encoded.set(key, job);
    job.catch((e: unknown) => {
      this.encoded.delete(key);
      // Said, not swallowed: the next image will be encoded again when it is opened.
      this.appState.say(`Encoding the next image ahead failed: ${errorMessage(e)}`, 'error');
    });
  }

  /** Image ids name images of one dataset. */
  private dataset(): string {
    return this.appState.dataset.summary?.path ?? '';
  }
}

export const sam = new SamState(app, editorState);
