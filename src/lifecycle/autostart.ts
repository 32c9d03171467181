/**
 * `igloo autostart`: starts each of the user's containers marked
 * `igloo.autostart = true` that is not running, one after another, and
 * says what became of each. A failure is reported and the others still
 * start. Meant for a boot script (or a systemd unit) that runs it as each
 * user, as LXC's lxc-autostart is run at boot (README).
 */
import { liveState, readConfig } from './store.ts';
import { startContainer } from './run.ts';
import type { UserContainers } from './user-containers.ts';

export interface AutostartResult {
  readonly name: string;
  /** started now; running already; failed (error says why). */
  readonly result: 'started' | 'running' | 'failed';
  readonly pid?: number;
  readonly error?: string;
}

export async function autostartContainers(
  user: UserContainers,
  onResult: (r: AutostartResult) => void = () => undefined,
): Promise<AutostartResult[]> {
  const out: AutostartResult[] = [];
  const report = (r: AutostartResult) => {
    out.push(r);
    onResult(r);
  };
  for (const name of await user.names()) {
    const paths = user.paths(name);
    let marked: boolean;
    try {
      marked = (await readConfig(paths, name)).autostart === true;
    } catch (err) {
      // A broken config may or may not be marked: say so rather than skip it silently.
      report({ name, result: 'failed', error: err instanceof Error ? err.message : String(err) });
      continue;
    }
    if (!marked) continue;
    try {
      const state = await liveState(paths);
      if (state.status === 'running') {
        report({ name, result: 'running', ...(state.pid !== undefined && { pid: state.pid }) });
        continue;
      }
      const started = await startContainer(user, name);
      report({ name, result: 'started', ...(started.pid !== undefined && { pid: started.pid }) });
    } catch (err) {
      report({ name, result: 'failed', error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}
