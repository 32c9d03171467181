/**
 * Root writes below a user's delegated cgroup (igloo limit set, limit rm):
 * what the user made there must never lead root out. A cgroup file system
 * refuses symlinks and FIFOs itself (test/integration/limits.test.ts checks
 * that); these plant them in a directory tree shaped like a hierarchy, so
 * the code's own refusal is tested too: every component opened
 * O_DIRECTORY|O_NOFOLLOW, every file O_NOFOLLOW|O_NONBLOCK and regular.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { IglooError } from '../../core/errors.ts';
import { CgroupDriver } from './driver.ts';
import { rmdirCgroupTree, withCgroupDir, writeCgroupFile } from './fs.ts';

const top = mkdtempSync(join(tmpdir(), 'igloo-cgfs-'));
after(() => rmSync(top, { recursive: true, force: true }));
const mount = join(top, 'pids');
const outside = join(top, 'outside');
mkdirSync(join(mount, 'igloo', 'user-anna'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(outside, 'pids.max'), 'max\n');
const unsafe = (e: unknown) => e instanceof IglooError && e.code === 'EUNSAFE';

describe('cgroup files by descriptor', () => {
  it('refuses a directory planted as a link to elsewhere', () => {
    symlinkSync(outside, join(mount, 'igloo', 'user-anna', 'c1'));
    const driver = new CgroupDriver({
      version: 1,
      hierarchies: [{ mount, controllers: ['pids'] }],
    });
    assert.throws(() => driver.writeLimits('igloo/user-anna/c1', { pids: 5 }), unsafe);
    assert.throws(() => withCgroupDir(mount, 'igloo/user-anna/c1', 'write', () => 0), unsafe);
    assert.equal(readFileSync(join(outside, 'pids.max'), 'utf8'), 'max\n');
  });

  it('refuses a limit file planted as a link, and a FIFO', () => {
    const dir = join(mount, 'igloo', 'user-anna');
    symlinkSync(join(outside, 'pids.max'), join(dir, 'pids.max'));
    execFileSync('mkfifo', [join(dir, 'memory.limit_in_bytes')]);
    withCgroupDir(mount, 'igloo/user-anna', 'write', (fd) => {
      assert.throws(() => writeCgroupFile(fd, 'pids.max', '5', dir), unsafe);
      assert.throws(() => writeCgroupFile(fd, 'memory.limit_in_bytes', '5', dir));
    });
    assert.equal(readFileSync(join(outside, 'pids.max'), 'utf8'), 'max\n');
  });

  it('removing a tree never follows a link out of it', () => {
    mkdirSync(join(mount, 'igloo', 'user-elsa', 'c1'), { recursive: true });
    symlinkSync(outside, join(mount, 'igloo', 'user-elsa', 'c1', 'evil'));
    withCgroupDir(mount, 'igloo', 'remove', (fd) => {
      assert.throws(() => rmdirCgroupTree(fd, 'user-elsa', join(mount, 'igloo')));
    });
    assert.equal(readFileSync(join(outside, 'pids.max'), 'utf8'), 'max\n');
  });
});
