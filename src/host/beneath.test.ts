import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { mkdirBeneath, readFileBeneath, unlinkBeneath, writeFileBeneath } from './beneath.ts';

const top = mkdtempSync(join(tmpdir(), 'igloo-beneath-'));
after(() => rmSync(top, { recursive: true, force: true }));
const root = join(top, 'root');
const outside = join(top, 'outside');
mkdirSync(join(root, 'etc'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(outside, 'secret'), 'host secret\n');
writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');

describe('beneath a root', () => {
  it('reads a file, with links resolved inside the root', () => {
    symlinkSync('/etc/passwd', join(root, 'abs'));
    symlinkSync('../../../../etc/passwd', join(root, 'etc', 'rel'));
    assert.match(readFileBeneath(root, 'abs').toString(), /^root:/);
    assert.match(readFileBeneath(root, 'etc/rel').toString(), /^root:/);
  });

  it('never reads or writes through a link pointing out of the root', () => {
    symlinkSync(join(outside, 'secret'), join(root, 'etc', 'login.defs'));
    symlinkSync(outside, join(root, 'out'));
    assert.throws(() => readFileBeneath(root, 'etc/login.defs'), { code: 'ENOENT' });
    assert.throws(() => readFileBeneath(root, 'out/secret'), { code: 'ENOENT' });
    // Missing directories are not made on the way...
    assert.throws(() => writeFileBeneath(root, 'etc/login.defs', 'x'), { code: 'ENOENT' });
    // ...and where they exist, the link resolves as if the root were "/".
    mkdirSync(join(root, outside), { recursive: true });
    writeFileBeneath(root, 'etc/login.defs', 'planted\n', { append: true });
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'host secret\n');
    assert.equal(readFileSync(join(root, outside, 'secret'), 'utf8'), 'planted\n');
    mkdirBeneath(root, 'out/made');
    assert.ok(lstatSync(join(root, outside, 'made')).isDirectory());
    unlinkBeneath(root, 'etc/login.defs');
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'host secret\n');
  });

  it('refuses FIFOs, devices, hard links and, when asked, any link', () => {
    execFileSync('mkfifo', [join(root, 'etc', 'fifo')]);
    assert.throws(() => readFileBeneath(root, 'etc/fifo'), { code: 'EUNSAFE', message: /FIFO/ });
    assert.throws(() => writeFileBeneath(root, 'etc/fifo', 'x'), { code: 'EUNSAFE' });
    execFileSync('ln', [join(root, 'etc', 'passwd'), join(root, 'etc', 'hard')]);
    assert.throws(() => writeFileBeneath(root, 'etc/hard', 'x'), {
      code: 'EUNSAFE',
      message: /hard links/,
    });
    assert.throws(() => readFileBeneath(root, 'abs', { symlinks: 'refuse' }), { code: 'EUNSAFE' });
  });

  it('stops at 40 links', () => {
    symlinkSync('loop', join(root, 'loop'));
    assert.throws(() => readFileBeneath(root, 'loop'), { code: 'EUNSAFE', message: /too many/ });
  });
});
