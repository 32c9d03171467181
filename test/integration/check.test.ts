/** `igloo check` on this real host, for a user with a delegation and one without. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Cleanup,
  createUser,
  delegate,
  igloo,
  requireRoot,
  type TestUser,
} from '../support/host.ts';

const cleanup = new Cleanup();
let withIds: TestUser;
let withoutIds: TestUser;

interface Report {
  ok: boolean;
  checks: Array<{ name: string; status: string; detail: string; fix?: string }>;
}

before(async () => {
  requireRoot();
  withIds = createUser(cleanup, 'igloo-chk-yes');
  withoutIds = createUser(cleanup, 'igloo-chk-no');
  await delegate(withIds, 6_000_000, 131072);
});
after(() => cleanup.run());

test('igloo check passes for a user with a delegation, naming their block', async () => {
  const r = await igloo(cleanup, withIds, ['check', '--json']);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(r.status, 0, r.stdout);
  assert.equal(report.ok, true);
  const sub = report.checks.find((c) => c.name === `subuids of ${withIds.name}`);
  assert.equal(sub?.status, 'ok');
  assert.match(sub!.detail, /131072 ids: 6000000-6131071 \(2 containers of 65536\)/);
  for (const name of ['user namespaces', 'newuidmap', 'newgidmap', 'igloo-helper', 'busybox']) {
    assert.equal(report.checks.find((c) => c.name === name)?.status, 'ok', name);
  }
});

test('igloo check fails for a user without a delegation and says how to fix it', async () => {
  const r = await igloo(cleanup, withoutIds, ['check']);
  assert.equal(r.status, 1);
  assert.match(
    r.stdout,
    new RegExp(`FAIL\\s+subuids of ${withoutIds.name}\\s+none delegated in /etc/subuid`),
  );
  assert.match(r.stdout, new RegExp(`fix: as root: igloo subid grant ${withoutIds.name}`));
});

test('the CLI rejects unknown commands and options with exit status 2', async () => {
  let r = await igloo(cleanup, 'root', ['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  r = await igloo(cleanup, 'root', ['check', '--bogus']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Unknown option '--bogus'/);
  r = await igloo(cleanup, 'root', ['--version']);
  assert.match(r.stdout, /^igloo \d+\.\d+\.\d+\n$/);
});
