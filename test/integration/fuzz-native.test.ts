/**
 * The native fuzzers in CI: scripts/fuzz-native.sh builds the libFuzzer
 * harnesses of the helper's plan reader and of the native front's
 * prepared-plan reader with ASan and UBSan, replays every crash ever found
 * (test/fixtures/fuzz/native/), then fuzzes each for a short budget
 * (FUZZ_SECONDS, 20 s here; npm run fuzz:native for longer).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { root } from '../support/host.ts';

test('the plan readers survive their fuzzers and every recorded crash', () => {
  const r = spawnSync('bash', [join(root, 'scripts/fuzz-native.sh')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, FUZZ_SECONDS: process.env.FUZZ_SECONDS ?? '20' },
    // fd 3 stays closed: the prepared-plan harness puts plans there
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10 * 60_000,
  });
  assert.equal(r.status, 0, `fuzz-native.sh failed:\n${r.stdout}\n${r.stderr}`);
  for (const h of ['plan', 'prepared']) {
    const line = new RegExp(`^fuzz ${h}: (\\d+) runs in \\d+ s, cov (\\d+), crashes 0$`, 'm').exec(
      r.stdout,
    );
    assert.ok(line, `no summary for ${h}:\n${r.stdout}`);
    assert.ok(Number(line[1]) > 100, `${h}: only ${line[1]} runs`);
    assert.ok(
      Number(line[2]) > 50,
      `${h}: coverage ${line[2]}: the seeds did not reach the reader`,
    );
  }
  // no crash input left behind uncommitted: every file there is a replayed fixture
  for (const h of ['plan', 'prepared'])
    for (const f of readdirSync(join(root, 'test/fixtures/fuzz/native', h)).filter(
      (f) => !f.startsWith('.'),
    ))
      assert.match(r.stdout, new RegExp(`fuzz ${h}: \\d+ fixtures replayed`), f);
});
