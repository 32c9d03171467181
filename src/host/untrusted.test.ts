import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readUntrustedText, withPrivateTempDir } from './untrusted.ts';

const dir = mkdtempSync(join(tmpdir(), 'igloo-untrusted-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('readUntrustedText()', () => {
  it('reads a regular file', () => {
    writeFileSync(join(dir, 'ok'), 'hello');
    assert.equal(readUntrustedText(join(dir, 'ok')), 'hello');
  });

  it('refuses a FIFO at once instead of blocking on it', () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    assert.throws(() => readUntrustedText(join(dir, 'fifo')), {
      code: 'EUNSAFE',
      message: /a FIFO/,
    });
  });

  it('refuses a symbolic link, even to a readable file', () => {
    writeFileSync(join(dir, 'target'), 'secret');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    assert.throws(() => readUntrustedText(join(dir, 'link')), {
      code: 'EUNSAFE',
      message: /symbolic link/,
    });
  });

  it('refuses a device and a file over the cap', () => {
    assert.throws(() => readUntrustedText('/dev/zero'), {
      code: 'EUNSAFE',
      message: /character device/,
    });
    writeFileSync(join(dir, 'big'), 'x'.repeat(100));
    assert.throws(() => readUntrustedText(join(dir, 'big'), { maxBytes: 99 }), {
      code: 'EUNSAFE',
      message: /100 bytes, more than 99/,
    });
    assert.equal(readUntrustedText(join(dir, 'big'), { maxBytes: 100 }).length, 100);
  });

  it('says ENOENT for a missing file', () => {
    assert.throws(() => readUntrustedText(join(dir, 'missing')), { code: 'ENOENT' });
  });
});

describe('withPrivateTempDir()', () => {
  it('makes a fresh 0700 directory beside the target and removes it', async () => {
    const target = join(dir, 'out.tar');
    let seen = '';
    await withPrivateTempDir(target, async (tmp) => {
      seen = tmp;
      assert.ok(tmp.startsWith(join(dir, '.out.tar.igloo-')));
      assert.equal(execFileSync('stat', ['-c', '%a', tmp], { encoding: 'utf8' }).trim(), '700');
    });
    assert.ok(!existsSync(seen));
    assert.ok(!readdirSync(dir).some((n) => n.startsWith('.out.tar.igloo-')));
  });
});
