/**
 * GET /containers without reading and parsing every container's files on
 * every request: the parsed config and the recorded state (state.json) of
 * each container are kept between requests, and dropped when something
 * says they changed:
 *
 * - the inotify watchers of events.ts (a container directory's config or
 *   state.json replaced; the containers directory changed: a name came or
 *   went) call changed(NAME) / changedNames();
 * - the server's own verbs do the same before they answer (poke), so a
 *   client sees its own create or destroy in the next list;
 * - a watcher that fails (its error event) drops everything (drop()).
 *
 * What inotify can miss, and what holds then:
 * - a queue overflow (IN_Q_OVERFLOW): libuv (fs.watch) drops that event
 *   without a word, so the server cannot know. So nothing is trusted for
 *   longer than `trustMs` (2 s): the first list after that re-reads the
 *   directory and compares each kept container's config and state.json by
 *   stat (inode, size, mtime, ctime: an atomic replace makes a new inode)
 *   and reads again only what differs. A missed change is served for at
 *   most trustMs.
 * - a change between the listing of a new directory and its watch being
 *   added: the watch's arrival calls changed(NAME) (events.ts attach).
 * - init dying with its monitor (no exit file): the state a running
 *   container has is never taken from the cache; whether init lives is
 *   asked each time (liveState: one /proc read per running container).
 * - an entry that could not be read (a half-made directory, a bad config)
 *   is not kept: it is read again next time.
 *
 * Usage figures (memory, CPU, pids) come from the cgroups of running
 * containers at each request; CPU % is over the time since the previous
 * request that sampled the container (at most a minute before).
 */
import { statSync } from 'node:fs';
import type { ContainerConfig } from '../core/config/model.ts';
import type { Usage } from '../core/limits/usage.ts';
import { cpuPercent } from '../core/limits/usage.ts';
import type { Igloo } from '../lifecycle/igloo.ts';
import { unreadableListed } from '../lifecycle/control.ts';
import type { ContainerPaths } from '../lifecycle/paths.ts';
import { liveState, readConfig, readState, type StateFile } from '../lifecycle/store.ts';

interface Entry {
  readonly paths: ContainerPaths;
  readonly config: ContainerConfig;
  /** state.json as recorded (a running one is checked again at each list). */
  readonly state: StateFile;
  /** stat signatures of the config and state.json when they were read. */
  readonly sig: string;
  /**
   * What list() gives for a container that does not run: the same object
   * until the entry is dropped, so a caller may keep what it made of it
   * (the server keeps its JSON, by identity).
   */
  item?: ListedWithUsage;
}

export interface ListedWithUsage {
  readonly name: string;
  readonly state: StateFile;
  readonly config?: ContainerConfig;
  readonly error?: string;
  readonly usage?: Usage;
  readonly cpuPercent?: number;
}

/** How long a sample stays good as the start of a CPU % (ms). */
const CPU_SAMPLE_MAX_AGE = 60_000;

function signature(path: string): string {
  try {
    const st = statSync(path, { throwIfNoEntry: false }); // a created container has no state.json
    return st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : '-';
  } catch {
    return '?';
  }
}

export class ContainerCache {
  private readonly igloo: Igloo;
  private readonly trustMs: number;
  private readonly keep: boolean;
  private readonly entries = new Map<string, Entry>();
  /** Bumped by changed(NAME): a read that began before it is not kept. */
  private readonly generation = new Map<string, number>();
  private names: string[] | undefined;
  private namesGeneration = 0;
  private checkedAt = -Infinity;
  private readonly cpuSamples = new Map<string, { usageNs: number; at: bigint }>();
  /** Counts, for tests and the bench: reads of a container's files, sweeps. */
  readonly stats = { reads: 0, sweeps: 0 };

  /** keep: false reads everything at every list (IGLOO_SERVE_CACHE=off: the bench's anchor). */
  constructor(igloo: Igloo, opts: { trustMs?: number; keep?: boolean } = {}) {
    this.igloo = igloo;
    this.trustMs = opts.trustMs ?? 2000;
    this.keep = opts.keep ?? true;
  }

  /** NAME's config or state changed (or may have). */
  changed(name: string): void {
    this.entries.delete(name);
    this.generation.set(name, (this.generation.get(name) ?? 0) + 1);
  }

  /** A container directory came or went. */
  changedNames(): void {
    this.names = undefined;
    this.namesGeneration++;
  }

  /** Nothing kept is trusted any more (a watcher failed). */
  drop(): void {
    for (const name of this.entries.keys()) this.changed(name);
    this.changedNames();
  }

  /** The containers with their config and live state, as igloo.list(), plus usage. */
  async list(): Promise<ListedWithUsage[]> {
    if (!this.keep) this.drop();
    const now = performance.now();
    if (now - this.checkedAt > this.trustMs) {
      this.sweep();
      this.checkedAt = now;
    }
    const names = await this.currentNames();
    const out: ListedWithUsage[] = [];
    const running: number[] = [];
    for (const name of names) {
      let entry = this.entries.get(name);
      if (entry?.item) {
        out.push(entry.item);
        continue;
      }
      if (!entry) {
        const paths = this.igloo.paths(name);
        const gen = this.generation.get(name) ?? 0;
        const sig = `${signature(paths.config)}|${signature(paths.state)}`;
        try {
          this.stats.reads++;
          entry = {
            paths,
            config: await readConfig(paths, name),
            state: await readState(paths),
            sig,
          };
          if ((this.generation.get(name) ?? 0) === gen) this.entries.set(name, entry);
        } catch (err) {
          out.push(await unreadableListed(paths, name, err));
          continue;
        }
      }
      if (entry.state.status !== 'running') {
        entry.item = { name, config: entry.config, state: entry.state };
        out.push(entry.item);
        continue;
      }
      const state = await liveState(entry.paths);
      if (state.status === 'running') running.push(out.length);
      out.push({ name, config: entry.config, state });
    }
    if (running.length > 0) await this.addUsage(out, running);
    return out;
  }

  private async currentNames(): Promise<string[]> {
    if (this.names) return this.names;
    const gen = this.namesGeneration;
    const names = await this.igloo.names();
    if (gen === this.namesGeneration) {
      this.names = names;
      const present = new Set(names);
      for (const name of this.entries.keys()) if (!present.has(name)) this.changed(name);
      for (const name of this.cpuSamples.keys())
        if (!present.has(name)) this.cpuSamples.delete(name);
    }
    return names;
  }

  /** Compares what is kept with the files by stat; drops what differs, and the names. */
  private sweep(): void {
    this.stats.sweeps++;
    this.changedNames();
    for (const [name, { paths, sig }] of this.entries)
      if (`${signature(paths.config)}|${signature(paths.state)}` !== sig) this.changed(name);
  }

  private async addUsage(out: ListedWithUsage[], at: number[]): Promise<void> {
    const names = at.map((i) => out[i]!.name);
    let stats;
    try {
      stats = await this.igloo.stats(names, 0);
    } catch {
      return; // no cgroups to read: the list stands without usage
    }
    const t = process.hrtime.bigint();
    stats.forEach((s, k) => {
      const i = at[k]!;
      if (!s.usage) return;
      const usageNs = s.usage.cpu?.usageNs;
      const before = this.cpuSamples.get(s.name);
      let percent: number | undefined;
      if (usageNs !== undefined) {
        if (before && Number(t - before.at) / 1e6 < CPU_SAMPLE_MAX_AGE && t > before.at)
          percent = cpuPercent(before.usageNs, usageNs, Number(t - before.at));
        this.cpuSamples.set(s.name, { usageNs, at: t });
      }
      out[i] = {
        ...out[i]!,
        usage: s.usage,
        ...(percent !== undefined && { cpuPercent: percent }),
      };
    });
  }
}
