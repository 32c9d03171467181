import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../core/config/file.ts';
import { containerPaths } from '../core/layout.ts';
import { renamedConfig } from './rename.ts';

test('renamedConfig(): name, rootfs below the new directory, hostname when it was the name', () => {
  const dirs = { data: '/d', run: '/r' };
  const from = containerPaths(dirs, 'web');
  const to = containerPaths(dirs, 'www');
  const text = (hostname: string) =>
    `igloo.name = web\nigloo.rootfs = /d/containers/web/rootfs\nigloo.idmap = b 0 2000000 65536\nigloo.hostname = ${hostname}\n`;
  const c = renamedConfig(parseConfig(text('web')), from, to, 'www');
  assert.equal(c.name, 'www');
  assert.equal(c.rootfs, '/d/containers/www/rootfs');
  assert.equal(c.hostname, 'www');
  assert.equal(renamedConfig(parseConfig(text('box')), from, to, 'www').hostname, 'box');
  const elsewhere = parseConfig(text('web').replace('/d/containers/web/rootfs', '/srv/web-root'));
  assert.equal(renamedConfig(elsewhere, from, to, 'www').rootfs, '/srv/web-root');
});
