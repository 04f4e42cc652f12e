import type { ImageFilter } from '../../src-main/common/model';
import { roleAtLeast, type AnnotationsChanged, type AuditEntry, type LeaseState, type QueuedRun, type Role, type RunPart, type TeamDashboard, type TeamMe, type WorkJob } from '../../src-main/common/team';
import { call, errorCode, errorMessage, onEvent } from '../bridge';
import { app } from './app.svelte';
import { editorState } from './editor.svelte';
import { LatestWins } from './latest';
import { LeaseKeeper } from './lease';

/**
 * Team mode (the app served by `tessera serve`): who is logged in, their jobs, the manager's
 * dashboard, the edit lease of the open image and the changes others make. Outside team mode
 * `team:me` answers null and none of this shows.
 */
class TeamState {
  me = $state.raw<TeamMe | null>(null);
  myJobs = $state.raw<WorkJob[]>([]);
  /** The job whose images the grid shows; null: the grid's own filter. */
  activeJob = $state<number | null>(null);
  dashboardOpen = $state(false);
  dashboard = $state.raw<TeamDashboard | null>(null);
  /** Why the dashboard could not be read, shown in its place. */
  dashboardError = $state<string | null>(null);
  members = $state.raw<{ user: string; role: Role }[]>([]);
  /** Pre-label runs queued to workers from this page, newest first. */
  queuedRuns = $state.raw<QueuedRun[]>([]);
  /** The lease of the image open in the editor as last answered; null when none is open or outside team mode. */
  lease = $state.raw<LeaseState | null>(null);
  /** Someone else holds the open image: it is view only. */
  readonly viewOnly = $derived(this.lease !== null && !this.lease.mine && this.lease.holder !== null);

  private keeper: LeaseKeeper | null = null;
  private readonly reloads = new LatestWins<number>();
  private unsubscribe: (() => void)[] = [];
  /** The grid filter in force before a job was chosen, put back when it is left. */
  private filterBeforeJob: ImageFilter | null = null;

  get active(): boolean {
    return this.me !== null;
  }

  isAtLeast(role: Role): boolean {
    return this.me !== null && roleAtLeast(this.me.role, role);
  }

  get isManager(): boolean {
    return this.isAtLeast('manager');
  }

  get isReviewer(): boolean {
    return this.isAtLeast('reviewer');
  }

  private ready: Promise<void> | null = null;

  /** Asks who is logged in; the single-user app answers null (or nothing), and stays as it was. */
  init(): Promise<void> {
    this.ready ??= this.start();
    return this.ready;
  }

  private async start(): Promise<void> {
    let me: TeamMe | null = null;
    try {
      me = await call('team:me', {});
    } catch (e) {
      // A team server whose session has ended: log in again.
      if (errorCode(e) === 'UNAUTHENTICATED') location.assign('/login');
      me = null;
    }
    this.me = me;
    if (!me) return;
    this.keeper = new LeaseKeeper(
      { take: (imageId) => call('team:lease', { imageId }), release: (imageId) => call('team:release', { imageId }) },
      {
        leaseSeconds: me.leaseSeconds,
        onState: (s) => this.applyLease(s),
        onError: (e) => app.fail(e),
      },
    );
    this.unsubscribe.push(
      onEvent('lease:changed', (s) => this.keeper?.changed(s)),
      onEvent('annotations:changed', (c) => this.onAnnotationsChanged(c)),
    );
    // A closing tab gives its lease back at once (else it lapses after leaseSeconds).
    window.addEventListener('pagehide', () => this.keeper?.close());
  }

  /** Called once the dataset is open: the user's jobs, and an annotator starts on theirs. */
  async enterDataset(): Promise<void> {
    await this.init();
    if (!this.me) return;
    await this.loadMyJobs();
    if (this.me.role === 'annotator' && this.activeJob === null) {
      const next = this.myJobs.find((j) => j.assignee === this.me?.user && j.done < j.images) ?? this.myJobs[0];
      if (next) await this.chooseJob(next.id);
    }
  }

  async logout(): Promise<void> {
    this.keeper?.close();
    try {
      await fetch('/logout', { method: 'POST', credentials: 'same-origin' });
    } catch {
      // Going to the login page ends this page's session either way.
    }
    location.assign('/login');
  }

  // ---- jobs --------------------------------------------------------------------------------

  async loadMyJobs(): Promise<void> {
    try {
      this.myJobs = await call('team:myJobs', {});
    } catch (e) {
      app.fail(e);
    }
  }

  /** Shows only the job's images in the grid (null: back to the filter before). */
  async chooseJob(jobId: number | null): Promise<void> {
    const ds = app.dataset;
    if (jobId === null) {
      this.activeJob = null;
      const before = this.filterBeforeJob;
      this.filterBeforeJob = null;
      ds.setFilter(before ?? {});
      return;
    }
    try {
      const ids = await call('team:jobImageIds', { jobId });
      if (this.activeJob === null) this.filterBeforeJob = ds.filter;
      this.activeJob = jobId;
      // An empty list shows no image (not all of them).
      ds.setFilter({ ids });
    } catch (e) {
      app.fail(e);
    }
  }

  // ---- manager -----------------------------------------------------------------------------

  async loadDashboard(): Promise<void> {
    // Each on its own: members can be managed while the dashboard cannot be read, and back.
    const [dashboard, members] = await Promise.allSettled([call('team:dashboard', {}), call('team:members', {})]);
    if (dashboard.status === 'fulfilled') this.dashboard = dashboard.value;
    else {
      // The jobs at least (the throughput and workers are what failed to be read).
      try {
        this.dashboard = { jobs: await call('team:jobs', {}), users: this.dashboard?.users ?? [], workers: this.dashboard?.workers ?? [] };
      } catch {
        // The error below says why.
      }
    }
    if (members.status === 'fulfilled') this.members = members.value;
    this.dashboardError = dashboard.status === 'rejected' ? errorMessage(dashboard.reason) : null;
    if (members.status === 'rejected') app.fail(members.reason);
  }

  /** Splits the images of `filter` into jobs; throws so the form can show why. */
  async createJobs(args: { name?: string; filter: ImageFilter; perJob: number; maxJobs?: number; assignees: string[]; reviewer?: string }): Promise<WorkJob[]> {
    const jobs = await call('team:createJobs', args);
    app.say(jobs.length === 1 ? 'Created 1 job' : `Created ${jobs.length} jobs`);
    await Promise.all([this.loadDashboard(), this.loadMyJobs()]);
    return jobs;
  }

  async deleteJob(jobId: number): Promise<void> {
    try {
      await call('team:deleteJob', { jobId });
      if (this.activeJob === jobId) await this.chooseJob(null);
      await Promise.all([this.loadDashboard(), this.loadMyJobs()]);
    } catch (e) {
      app.fail(e);
    }
  }

  async setRole(user: string, role: Role | null): Promise<void> {
    try {
      await call('team:setRole', { user, role });
      this.members = await call('team:members', {});
    } catch (e) {
      app.fail(e);
    }
  }

  /** Queues a pre-label run for `tessera worker` processes (manager); throws so the panel can say why. */
  async queuePrelabel(modelId: string, scope: 'unlabeled' | 'filtered' | 'all', skipLabeled: boolean): Promise<QueuedRun> {
    const run = await call('team:queuePrelabel', {
      modelId,
      scope: { filter: scope === 'filtered' ? app.dataset.filter : {}, unlabeledOnly: scope === 'unlabeled' },
      skipLabeled,
    });
    this.queuedRuns = [run, ...this.queuedRuns.filter((r) => r.runId !== run.runId)];
    app.say(`Queued run #${run.runId} for the workers: ${run.images} images in ${run.parts} parts`);
    return run;
  }

  runParts(runId: number): Promise<RunPart[]> {
    return call('team:runParts', { runId });
  }

  async audit(imageId: number): Promise<AuditEntry[]> {
    return call('team:audit', { imageId, limit: 200 });
  }

  // ---- the open image ----------------------------------------------------------------------

  /** The editor shows this image now (team mode asks for its lease); null: none. */
  openImage(imageId: number | null): void {
    if (!this.keeper) return;
    if (imageId === null) {
      this.keeper.close();
      return;
    }
    this.keeper.open(imageId);
    // Until the lease is answered nothing may be drawn that the server would refuse.
    if (!this.keeper.state) editorState.editor.setReadOnly(true);
  }

  private applyLease(s: LeaseState | null): void {
    this.lease = s;
    editorState.editor.setReadOnly(s !== null && !s.mine);
    if (s && !s.mine && s.holder === null) app.say('Could not take this image for editing; trying again', 'error');
  }

  private onAnnotationsChanged(c: AnnotationsChanged): void {
    if (c.by === this.me?.user) return;
    const v = app.viewer;
    if (v.item?.id === c.imageId) {
      // Only the shapes are read again: the pixels, pan and zoom stay.
      this.reloads.run(c.imageId, () => editorState.editor.reload().catch((e: unknown) => app.fail(e)));
      editorState.noteOutsideEdit();
    } else if (!v.active) {
      void this.refreshTile(c.imageId);
    } else {
      editorState.noteOutsideEdit();
    }
  }

  /** The grid tile of an image someone changed gets its new counts and status. */
  private async refreshTile(imageId: number): Promise<void> {
    try {
      const { items } = await call('images:list', { filter: { ids: [imageId] }, offset: 0, limit: 1 });
      const item = items[0];
      if (item) app.dataset.updateItem(imageId, { annotationCount: item.annotationCount, status: item.status });
    } catch (e) {
      console.warn(`could not refresh image ${imageId}: ${errorMessage(e)}`);
    }
  }
}

export const team = new TeamState();
