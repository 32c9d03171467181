/**
 * The built igloo command as one test user, with the three things every
 * per-feature test needs: run it, require it to succeed, and destroy a
 * container at cleanup (a container that is gone already is fine).
 */
import assert from 'node:assert/strict';
import { igloo, type Cleanup, type RunResult, type TestUser } from './host.ts';

export interface AsUser {
  run(args: readonly string[], env?: Record<string, string>): Promise<RunResult>;
  ok(args: readonly string[], env?: Record<string, string>): Promise<RunResult>;
  destroyLater(name: string): void;
}

export function asUser(cleanup: Cleanup, user: () => TestUser | 'root'): AsUser {
  const run = (args: readonly string[], env: Record<string, string> = {}) =>
    igloo(cleanup, user(), args, { env });
  return {
    run,
    async ok(args, env = {}) {
      const r = await run(args, env);
      assert.equal(r.status, 0, `igloo ${args.join(' ')}: ${r.stderr}`);
      return r;
    },
    destroyLater(name) {
      cleanup.add(`destroy ${name}`, async () => {
        const r = await run(['destroy', '--force', name]);
        if (r.status !== 0 && !/No container named/.test(r.stderr)) throw new Error(r.stderr);
      });
    },
  };
}
