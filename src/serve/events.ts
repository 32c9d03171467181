/**
 * Lifecycle events of one user's containers, fed by inotify (fs.watch),
 * not by polling: every change igloo makes lands in a file the watchers
 * see, so the event follows the change by the time of one state read.
 *
 *   DATA/containers            a container directory appears or goes (create, destroy)
 *   DATA/containers/NAME       config and state.json replaced (create, start, stop)
 *   RUN                        RUN/NAME appears (start)
 *   RUN/NAME                   the monitor writes `exit` when init ends
 *
 * On any of these the container's live state is read again and compared
 * with the last one seen: created, started, exited (with init's status),
 * destroyed. `stopped` is said by the server itself when its stop returns.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { isIglooError } from '../core/errors.ts';
import type { Igloo } from '../lifecycle/igloo.ts';
import { ensurePrivateDir } from '../lifecycle/paths.ts';
import type { ContainerCache } from './cache.ts';

export type EventType = 'created' | 'started' | 'exited' | 'stopped' | 'destroyed';

export interface ContainerEvent {
  readonly type: EventType;
  readonly name: string;
  /** The state after the change (absent for destroyed). */
  readonly state?: { readonly status: string; readonly pid?: number; readonly lastExit?: string };
  /** exited: how init ended ("exited 0", "signaled SIGKILL"). */
  readonly status?: string;
  readonly at: string;
}

type Status = 'created' | 'running' | 'stopped';

export class ContainerEvents extends EventEmitter {
  private readonly igloo: Igloo;
  private readonly known = new Map<string, Status>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  /** Exits seen before the monitor wrote init's status: said when it does, or after a moment. */
  private readonly awaitingStatus = new Map<string, NodeJS.Timeout>();
  private closed = false;
  /** The list's cache (cache.ts): told of every change the watchers see. */
  private readonly cache: ContainerCache | undefined;

  constructor(igloo: Igloo, cache?: ContainerCache) {
    super();
    this.igloo = igloo;
    this.cache = cache;
    this.setMaxListeners(0);
  }

  /** Reads the current states (no events for them) and starts watching. */
  async start(): Promise<void> {
    const { containersDir } = this.igloo;
    await ensurePrivateDir(this.igloo.dirs.data);
    await ensurePrivateDir(containersDir);
    await ensurePrivateDir(this.igloo.dirs.run);
    this.watchDir('containers', containersDir, () => {
      this.cache?.changedNames();
      void this.rescan();
    });
    this.watchDir('run', this.igloo.dirs.run, (file) => {
      if (file) this.attach(file);
    });
    for (const name of await this.igloo.names()) {
      const status = await this.read(name);
      if (status) this.known.set(name, status);
      this.attach(name);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.awaitingStatus.values()) clearTimeout(t);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** Looks at NAME again now (the server calls it after a verb; `stopped` is said at once). */
  poke(name: string, said?: 'stopped'): void {
    this.cache?.changed(name);
    this.cache?.changedNames();
    if (said) this.emitEvent({ type: said, name, at: new Date().toISOString() });
    this.refresh(name);
  }

  /** Watches DIR under KEY; says whether a new watch was added. */
  private watchDir(key: string, dir: string, onChange: (file: string | null) => void): boolean {
    if (this.closed || this.watchers.has(key)) return false;
    try {
      const w = watch(dir, { persistent: false }, (_kind, file) =>
        onChange(file === null ? null : String(file)),
      );
      w.on('error', () => {
        w.close();
        this.watchers.delete(key);
        // Changes may go unseen until it is watched again: nothing kept is trusted.
        this.cache?.drop();
      });
      this.watchers.set(key, w);
      return true;
    } catch {
      // Not there (yet, or any more): the parent's watcher attaches it when it appears.
      return false;
    }
  }

  /** Watches NAME's container and run directories, and looks at it. */
  private attach(name: string): void {
    if (name.startsWith('.')) return;
    let paths;
    try {
      paths = this.igloo.paths(name);
    } catch {
      return; // not a container name (a temporary file)
    }
    const c = this.watchDir(`c:${name}`, paths.dir, () => this.changed(name));
    const r = this.watchDir(`r:${name}`, paths.rundir, () => this.changed(name));
    // What changed before a new watch was there is read again; a container
    // already watched has said its changes (a rescan does not re-read all).
    if (c || r || !this.known.has(name)) this.changed(name);
  }

  private changed(name: string): void {
    this.cache?.changed(name);
    this.refresh(name);
  }

  private async rescan(): Promise<void> {
    const names = new Set(await this.igloo.names().catch(() => [] as string[]));
    for (const name of names) this.attach(name);
    for (const name of this.known.keys()) if (!names.has(name)) this.refresh(name);
  }

  /** One refresh of NAME at a time; changes during it cause one more. */
  private refresh(name: string): void {
    if (this.closed) return;
    if (this.pending.has(name)) {
      this.dirty.add(name);
      return;
    }
    const run = (async () => {
      do {
        this.dirty.delete(name);
        await this.compare(name);
      } while (this.dirty.has(name) && !this.closed);
    })().finally(() => this.pending.delete(name));
    this.pending.set(name, run);
  }

  /** NAME's status now, or undefined when it does not exist (or not yet: no config). */
  private async read(name: string): Promise<Status | undefined> {
    try {
      await this.igloo.config(name);
      return (await this.igloo.state(name)).status;
    } catch (err) {
      if (isIglooError(err) && err.code === 'ENOENT') return undefined;
      return undefined;
    }
  }

  private async compare(name: string, force = false): Promise<void> {
    const before = this.known.get(name);
    let state;
    try {
      await this.igloo.config(name);
      state = await this.igloo.state(name);
    } catch {
      state = undefined;
    }
    const at = new Date().toISOString();
    if (state === undefined) {
      if (before !== undefined) {
        this.known.delete(name);
        for (const key of [`c:${name}`, `r:${name}`]) {
          this.watchers.get(key)?.close();
          this.watchers.delete(key);
        }
        this.emitEvent({ type: 'destroyed', name, at });
      }
      return;
    }
    const now = state.status;
    if (now === before) return;
    // init is gone but the monitor has not written its status yet: the exit
    // file's own inotify event comes in a moment (or, if it never does, the timer).
    if (
      before === 'running' &&
      now === 'stopped' &&
      !force &&
      state.lastExit?.startsWith('unknown')
    ) {
      if (!this.awaitingStatus.has(name))
        this.awaitingStatus.set(
          name,
          setTimeout(() => {
            this.awaitingStatus.delete(name);
            void this.compare(name, true);
          }, 500).unref(),
        );
      return;
    }
    clearTimeout(this.awaitingStatus.get(name));
    this.awaitingStatus.delete(name);
    this.known.set(name, now);
    const brief = {
      status: now,
      ...(state.pid !== undefined && { pid: state.pid }),
      ...(state.lastExit !== undefined && { lastExit: state.lastExit }),
    };
    if (before === undefined) this.emitEvent({ type: 'created', name, state: brief, at });
    if (now === 'running') {
      // A new run directory (the previous one is removed at start): watch it.
      this.watchers.get(`r:${name}`)?.close();
      this.watchers.delete(`r:${name}`);
      this.watchDir(`r:${name}`, this.igloo.paths(name).rundir, () => this.changed(name));
      this.emitEvent({ type: 'started', name, state: brief, at });
    } else if (before === 'running' && now === 'stopped') {
      this.emitEvent({
        type: 'exited',
        name,
        state: brief,
        at,
        ...(state.lastExit !== undefined && { status: state.lastExit }),
      });
    }
  }

  private emitEvent(event: ContainerEvent): void {
    this.emit('event', event);
  }
}
