/**
 * The native helper on its own, driven by src/native/smoke-test.py playing
 * the Node side of PROTOCOL.md: foreground, detached, exec, pty, errors and
 * the symlink-escape cases, as root and as an unprivileged user. Each of its
 * checks becomes a subtest here so a failure names the check.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { requireRoot, root } from '../support/host.ts';

test('igloo-helper passes its smoke test as root and as a user', async (t) => {
  requireRoot();
  const r = spawnSync('bash', [`${root}/src/native/smoke-test.sh`], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const checks = r.stdout.split('\n').filter((l) => /^(ok|FAIL) /.test(l));
  assert.ok(checks.length >= 50, `the smoke test ran its checks:\n${r.stdout}\n${r.stderr}`);
  for (const line of checks) {
    await t.test(line.replace(/^(ok|FAIL)\s+/, ''), () => {
      assert.ok(line.startsWith('ok'), `${line}\n${r.stderr}`);
    });
  }
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\n(\d+) passed, 0 failed\n/);
});
