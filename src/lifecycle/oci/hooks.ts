/**
 * OCI hooks on the host (prestart, createRuntime, poststart, poststop): each
 * runs as the caller with the state JSON on stdin, its args as execv's argv
 * (args[0] is its argv[0]), its env only, and its timeout.
 */
import { spawn } from 'node:child_process';
import { IglooError } from '../../core/errors.ts';
import type { HookKind, OciHook } from '../../core/oci/config.ts';
import type { OciState } from '../../core/oci/state.ts';

function runHook(kind: HookKind, i: number, hook: OciHook, state: OciState): Promise<void> {
  const what = `hooks.${kind}[${i}] (${hook.path})`;
  return new Promise((resolve, reject) => {
    const child = spawn(hook.path, hook.args.slice(1), {
      argv0: hook.args[0] ?? hook.path,
      env: Object.fromEntries(
        hook.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
      ),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    const timer = hook.timeout
      ? setTimeout(() => child.kill('SIGKILL'), hook.timeout * 1000)
      : undefined;
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(state));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new IglooError('ESYS', `Cannot run ${what}: ${err.message}`, {
          op: `hook ${kind}`,
          path: hook.path,
          hint: 'Give an executable file by absolute path',
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = signal
        ? hook.timeout
          ? `killed after its timeout of ${hook.timeout} s`
          : `killed by ${signal}`
        : `exit ${code}`;
      reject(
        new IglooError(
          'ESYS',
          `The ${what} hook failed (${why})${stderr ? `: ${stderr.trim()}` : ''}`,
          {
            op: `hook ${kind}`,
            path: hook.path,
            hint: 'Fix the hook, or remove it from config.json',
          },
        ),
      );
    });
  });
}

/** Runs the hooks of KIND in order; the first failure rejects. */
export async function runHooks(
  kind: HookKind,
  hooks: readonly OciHook[],
  state: OciState,
): Promise<void> {
  for (const [i, hook] of hooks.entries()) await runHook(kind, i, hook, state);
}
