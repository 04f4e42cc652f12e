import { SvelteMap } from 'svelte/reactivity';
import type { EvalError, EvalErrorKind, EvalRequest, EvalResult, EvalRunInfo, IouType } from '../../src-main/common/eval/types';
import type { Rect } from '../../src-main/common/geometry/shapes';
import type { ImageFilter, Split } from '../../src-main/common/model';
import { call, errorMessage } from '../bridge';
import { app, type AppState } from './app.svelte';
import { models } from './models.svelte';

/** All images, one split, or whatever the grid's filter shows. */
export type EvalScope = 'all' | Split | 'grid';
export type ErrorSort = 'score' | 'area' | 'iou';
export type FixAction = { do: 'accept' } | { do: 'delete' } | { do: 'setClass'; classId: number } | { do: 'relabelGroundTruth' };

export const ERROR_KINDS: readonly EvalErrorKind[] = ['false_positive', 'false_negative', 'wrong_class'];
export const ERROR_KIND_LABELS: Record<EvalErrorKind, string> = {
  false_positive: 'False positive',
  false_negative: 'False negative',
  wrong_class: 'Wrong class',
};

/** Where the viewer zooms once it has drawn an image, and which annotation it selects there. */
export interface ViewerFocus {
  imageId: number;
  rect: Rect;
  annotationId: number;
}

/** Rows the error list renders at first; more are added on request. */
const ERROR_PAGE = 300;

/** Identifies an error across re-sorts; a detection is at most one error, a ground truth too. */
export const errorKey = (e: EvalError): string => `${e.kind}:${e.annotationId}`;

/**
 * The evaluation view: which run is evaluated and how, the last result, and the error browser's
 * filters. The result stays while the user opens errors in the viewer and fixes them, so coming
 * back shows the same list with what was done to each row; a new run is the user's choice.
 */
export class EvaluationState {
  open = $state(false);
  tab = $state<'metrics' | 'errors'>('metrics');
  runs = $state.raw<EvalRunInfo[]>([]);
  runsLoaded = $state(false);
  runId = $state<number | null>(null);
  iouType = $state<IouType>('bbox');
  scope = $state<EvalScope>('all');
  scoreThreshold = $state(0.5);
  iouThreshold = $state(0.5);

  running = $state(false);
  error = $state<string | null>(null);
  result = $state.raw<EvalResult | null>(null);
  /** The request `result` answers; the form may have changed since. */
  request = $state.raw<EvalRequest | null>(null);
  /** What was done to each error of `result` from the list, by errorKey. */
  readonly fixes = new SvelteMap<string, string>();
  /** Annotations were changed from the list since `result` was computed. */
  outdated = $state(false);

  kinds = $state.raw<ReadonlySet<EvalErrorKind>>(new Set(ERROR_KINDS));
  /** Class name the error list is narrowed to ('' for all). */
  errorClass = $state('');
  sortBy = $state<ErrorSort>('score');
  sortDescending = $state(true);
  shownErrors = $state(ERROR_PAGE);
  /** The error last opened in the viewer. */
  selectedKey = $state<string | null>(null);
  /** The error whose fix is being stored. */
  busyKey = $state<string | null>(null);
  focus = $state.raw<ViewerFocus | null>(null);

  /** Errors passing the kind and class filters, in the chosen order. */
  readonly errors = $derived.by((): EvalError[] => {
    const r = this.result;
    if (!r) return [];
    const kinds = this.kinds;
    const cls = this.errorClass;
    const list = r.errors.filter((e) => kinds.has(e.kind) && (cls === '' || e.className === cls || e.otherClassName === cls));
    const dir = this.sortDescending ? -1 : 1;
    const key = this.sortBy;
    const value = (e: EvalError): number | null => (key === 'score' ? e.score : key === 'area' ? e.area : e.iou);
    // Rows without a value (false negatives have no score) go last whichever the direction.
    return list.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va === null || vb === null) return va === vb ? a.imageId - b.imageId : va === null ? 1 : -1;
      return va === vb ? a.imageId - b.imageId || a.annotationId - b.annotationId : (va - vb) * dir;
    });
  });

  /** Error counts by kind, before filtering. */
  readonly errorCounts = $derived.by((): Record<EvalErrorKind, number> => {
    const out: Record<EvalErrorKind, number> = { false_positive: 0, false_negative: 0, wrong_class: 0 };
    for (const e of this.result?.errors ?? []) out[e.kind]++;
    return out;
  });

  /** Classes named by any error, for the class filter. */
  readonly errorClasses = $derived.by((): string[] => {
    const names = new Set<string>();
    for (const e of this.result?.errors ?? []) {
      names.add(e.className);
      if (e.otherClassName) names.add(e.otherClassName);
    }
    return [...names].sort((a, b) => a.localeCompare(b));
  });

  private runToken = 0;

  constructor(private readonly appState: AppState) {}

  get scopeFilter(): ImageFilter {
    if (this.scope === 'grid') return { ...this.appState.dataset.filter };
    return this.scope === 'all' ? {} : { split: this.scope };
  }

  show(): void {
    this.appState.viewer.close();
    this.open = true;
    void this.loadRuns();
  }

  hide(): void {
    this.open = false;
    this.focus = null;
  }

  /** Forgets everything: the dataset it belonged to was closed. */
  reset(): void {
    this.runToken++;
    this.hide();
    this.runs = [];
    this.runsLoaded = false;
    this.runId = null;
    this.result = null;
    this.request = null;
    this.error = null;
    this.running = false;
    this.fixes.clear();
    this.outdated = false;
    this.selectedKey = null;
    this.busyKey = null;
  }

  async loadRuns(): Promise<void> {
    try {
      const runs = await call('eval:runs', {});
      this.runs = runs;
      this.runsLoaded = true;
      // The newest run by default, and a vanished run is not kept selected.
      if (this.runId === null || !runs.some((r) => r.id === this.runId)) {
        const newest = [...runs].sort((a, b) => b.startedAt - a.startedAt || b.id - a.id)[0];
        this.runId = newest?.id ?? null;
      }
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  async run(): Promise<void> {
    if (this.runId === null || this.running) return;
    const request: EvalRequest = {
      runId: this.runId,
      iouType: this.iouType,
      filter: this.scopeFilter,
      scoreThreshold: this.scoreThreshold,
      iouThreshold: this.iouThreshold,
    };
    const token = ++this.runToken;
    this.running = true;
    this.error = null;
    try {
      const result = await call('eval:run', request);
      if (token !== this.runToken) return;
      this.result = result;
      this.request = request;
      this.fixes.clear();
      this.outdated = false;
      this.selectedKey = null;
      this.shownErrors = ERROR_PAGE;
    } catch (e) {
      if (token === this.runToken) this.error = errorMessage(e);
    } finally {
      if (token === this.runToken) this.running = false;
    }
  }

  toggleKind(kind: EvalErrorKind): void {
    const next = new Set(this.kinds);
    if (next.has(kind)) next.delete(kind);
    else next.add(kind);
    this.kinds = next;
    this.shownErrors = ERROR_PAGE;
  }

  setSort(by: ErrorSort): void {
    if (this.sortBy === by) this.sortDescending = !this.sortDescending;
    else {
      this.sortBy = by;
      this.sortDescending = true;
    }
  }

  showMoreErrors(): void {
    this.shownErrors += ERROR_PAGE;
  }

  /**
   * Opens the error's image in the viewer, zoomed on it. The viewer walks the grid's list, so the
   * image is looked up there; when the grid's filter hides it, the grid shows the evaluated scope.
   */
  async openError(e: EvalError): Promise<void> {
    const ds = this.appState.dataset;
    this.selectedKey = errorKey(e);
    try {
      let index = await this.indexOf(e.imageId);
      if (index === null) {
        ds.filter = this.request?.filter ?? {};
        ds.gridAnchor = 0;
        ds.focusAnchor = false;
        await ds.refresh();
        index = await this.indexOf(e.imageId);
      }
      if (index === null) {
        this.appState.say(`${e.image} is no longer in the dataset`, 'error');
        return;
      }
      // The model panel's slider hides predictions below it; this one must show.
      if (e.score !== null && e.kind !== 'false_negative' && e.score < models.threshold) {
        const t = Math.floor(e.score * 100) / 100;
        models.setThreshold(t);
        this.appState.say(`Min. score lowered to ${t.toFixed(2)} to show this prediction`);
      }
      const [x, y, w, h] = e.bbox;
      if (e.replaced) this.appState.say('This detection was replaced by a later run of the model (or found where a labeled or rejected shape was), so it is not on the image any more');
      this.focus = { imageId: e.imageId, rect: { x, y, w, h }, annotationId: e.annotationId };
      this.appState.openImage(index, e.imageId);
    } catch (err) {
      this.appState.fail(err);
    }
  }

  /** The viewer has zoomed to the focus. */
  focused(): void {
    this.focus = null;
  }

  /** Which fixes make sense for an error: predictions are accepted or rejected, ground truth edited. */
  fixesFor(e: EvalError): FixAction['do'][] {
    if (e.kind === 'false_negative') return ['setClass', 'delete'];
    // A replaced detection is not on the image any more: only the ground truth it hit can change.
    if (e.replaced) return e.kind === 'wrong_class' && e.otherAnnotationId !== null ? ['relabelGroundTruth'] : [];
    return e.kind === 'wrong_class' && e.otherAnnotationId !== null
      ? ['accept', 'setClass', 'relabelGroundTruth', 'delete']
      : ['accept', 'setClass', 'delete'];
  }

  /** Stores one fix; the row keeps its place and says what was done. */
  async fix(e: EvalError, action: FixAction): Promise<void> {
    const key = errorKey(e);
    if (this.busyKey !== null || this.fixes.has(key)) return;
    this.busyKey = key;
    const classes = this.appState.dataset.classes;
    const className = (id: number | null) => classes.find((c) => c.id === id)?.name ?? 'no class';
    const isPrediction = e.kind !== 'false_negative';
    if (!this.fixesFor(e).includes(action.do)) return;
    try {
      let done: string;
      if (action.do === 'accept') {
        await call('predictions:accept', { ids: [e.annotationId] });
        done = 'Accepted';
      } else if (action.do === 'delete') {
        if (isPrediction) await call('predictions:reject', { ids: [e.annotationId] });
        else await call('annotations:edit', { imageId: e.imageId, label: 'Delete annotation', ops: [{ op: 'delete', id: e.annotationId }] });
        done = isPrediction ? 'Rejected' : 'Deleted';
      } else if (action.do === 'setClass') {
        if (isPrediction) {
          await call('predictions:accept', { ids: [e.annotationId], edits: [{ id: e.annotationId, classId: action.classId }] });
          done = `Accepted as ${className(action.classId)}`;
        } else {
          await call('annotations:edit', {
            imageId: e.imageId,
            label: 'Change class',
            ops: [{ op: 'update', id: e.annotationId, patch: { classId: action.classId } }],
          });
          done = `Class set to ${className(action.classId)}`;
        }
      } else {
        if (e.otherAnnotationId === null || e.classId === null) return;
        await call('annotations:edit', {
          imageId: e.imageId,
          label: 'Change class',
          ops: [{ op: 'update', id: e.otherAnnotationId, patch: { classId: e.classId } }],
        });
        done = `Ground truth set to ${e.className}`;
      }
      this.fixes.set(key, done);
      this.outdated = true;
      this.appState.say(`${done}: ${e.image}`);
      // Counts and filters on the grid change with the annotations.
      void this.appState.dataset.refresh();
    } catch (err) {
      this.appState.fail(err);
    } finally {
      this.busyKey = null;
    }
  }

  /** Position in the grid's list of the tile showing an image (its stack's, for a slice); null when the filter hides it. */
  private async indexOf(imageId: number): Promise<number | null> {
    const ds = this.appState.dataset;
    if (ds.total === null) await ds.refresh();
    return call('images:locate', { filter: ds.filter, id: imageId });
  }
}

export const evaluation = new EvaluationState(app);
