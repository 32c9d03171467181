/**
 * The short soak (scripts/soak.ts; `npm run soak` is the long one): a test
 * user runs 20 start/stop cycles and 20 one-shot runs through the CLI and
 * the API while 5 containers keep running and take an exec after every
 * operation; then the host has the same mounts, no process of the user or
 * its containers' ids is left (zombies included), the API process has the
 * same descriptors and a stable heap, no container, run file or held lock is
 * left, and `igloo audit` finds nothing new.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { formatReport, soak } from '../../scripts/soak.ts';
import { Cleanup } from '../support/host.ts';

const cleanup = new Cleanup();
after(() => cleanup.run());

test('a short soak leaves the host, the API process and the user as they were', async () => {
  const opts = { cycles: 20, runs: 20, keep: 5, base: 610_000_000, user: 'igloo-soak-ci' };
  const report = await soak(opts, cleanup);
  const text = formatReport(report);
  assert.deepEqual(report.problems, [], text);
  // it did the work it claims: every operation, the number of times asked
  const n = (op: string) => report.worker.latency[op]?.n ?? 0;
  // (the kept containers' starts were in the warm-up, their stops at the end)
  assert.equal(n('start (api)') + n('start (cli)'), opts.cycles, text);
  assert.equal(n('stop (api)') + n('stop (cli)') - opts.keep, opts.cycles, text);
  assert.equal(n('run (api)') + n('run (cli)'), opts.runs, text);
  assert.equal(n('exec (api)') + n('exec (cli)'), opts.cycles + opts.runs, text);
  assert.ok(report.worker.fds.before.length > 3, text);
  assert.equal(report.worker.fds.after.length, report.worker.fds.before.length, text);
});
