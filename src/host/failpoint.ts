/**
 * Failpoints: named steps where igloo kills itself with SIGKILL when
 * IGLOO_FAILPOINT=NAME[,NAME...] names them, a real crash in which nothing
 * is cleaned up (test/integration/faults.test.ts iterates over them all).
 * The C helper reads the same variable (src/native/failpoint.c) at its own
 * steps. The variable is read once; unset, a failpoint is one comparison.
 *
 * Each name sits between two durable changes of an operation (a directory
 * made, a file renamed into place, a process started), so a crash there
 * leaves exactly the state the next command must cope with
 * (docs/reliability.md).
 */

/** Who checks a failpoint: the igloo process (Node), the helper, or the container's process before it runs. */
export type FailpointSide = 'node' | 'helper' | 'child';

export interface Failpoint {
  readonly name: string;
  readonly side: FailpointSide;
  /** What has happened when it fires. */
  readonly after: string;
}

const fp = (name: string, side: FailpointSide, after: string): Failpoint => ({
  name,
  side,
  after,
});

/** Every failpoint, per operation, in the order an operation passes them. */
export const FAILPOINTS = {
  create: [
    fp('create-dir-made', 'node', 'the container directory and its creating mark exist'),
    fp('create-config-written', 'node', 'the config (with its slice) is in place'),
    fp('create-rootfs-made', 'node', 'the rootfs is made'),
    fp('create-state-written', 'node', 'state.json says created; the mark is still there'),
  ],
  start: [
    fp('start-rundir-made', 'node', 'the run directory exists, nothing runs'),
    fp('helper-after-clone', 'helper', 'the child is cloned, its maps not written'),
    fp('helper-after-maps', 'helper', 'the maps are written, no step has run'),
    fp('child-before-exec', 'child', 'every step has run but exec'),
    fp('helper-before-ready', 'helper', 'init runs and RUN/NAME/init names it, READY not sent'),
    fp('monitor-started', 'helper', 'READY was sent; the monitor dies as it takes over'),
    fp('start-ready', 'node', 'Node has READY; state.json not written'),
    fp('start-state-written', 'node', 'state.json says running; no prepared exec plan'),
  ],
  exec: [
    fp('exec-planned', 'node', 'the exec plan is made, no helper runs'),
    fp('exec-joined', 'helper', 'the command runs in the container; the helper dies before READY'),
  ],
  run: [
    fp('run-state-running', 'node', 'the foreground process runs, state.json says running'),
    fp('run-exited', 'node', 'the process ended; state.json still says running'),
  ],
  stop: [
    fp('stop-signaled', 'node', 'init was sent its halt signal'),
    fp('stop-exited', 'node', 'init is gone; state.json still says running'),
  ],
  destroy: [
    fp('destroy-rootfs-removed', 'node', 'the rootfs is gone, the config is not'),
    fp('destroy-rundir-removed', 'node', 'rootfs, snapshots, run directory and cgroup are gone'),
  ],
  checkpoint: [
    fp('checkpoint-dumped', 'node', 'criu dumped (and killed) the tree, no manifest'),
    fp('checkpoint-renamed', 'node', 'the checkpoint is in place; state.json says running'),
  ],
  restore: [
    fp('restore-rundir-made', 'node', 'the run directory exists, criu has not run'),
    fp('restore-ready', 'node', 'criu restored init under its monitor; state.json not written'),
  ],
  'image import': [
    fp('image-import-staged', 'node', 'layers copied to a staging directory'),
    fp('image-import-saved', 'node', 'the image is renamed into place'),
  ],
  'subid grant': [
    fp('subid-grant-uid-written', 'node', '/etc/subuid has the block, /etc/subgid not yet'),
  ],
} as const satisfies Record<string, readonly Failpoint[]>;

export type FailpointName = (typeof FAILPOINTS)[keyof typeof FAILPOINTS][number]['name'];

let armed: ReadonlySet<string> | undefined;

/** Kills this process with SIGKILL if IGLOO_FAILPOINT names NAME. */
export function failpoint(name: FailpointName): void {
  armed ??= new Set(
    (process.env.IGLOO_FAILPOINT ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  if (armed.size !== 0 && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
