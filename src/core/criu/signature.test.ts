import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signedText, type CheckpointFacts } from './signature.ts';

const facts: CheckpointFacts = {
  container: '/var/lib/igloo/containers/c1',
  config: 'ab'.repeat(32),
  name: 'c1',
  createdAt: '2026-12-03T10:00:00.000Z',
  criu: '4.2.1',
  idmap: {
    uid: [{ inside: 0, outside: 2000000, count: 65536 }],
    gid: [{ inside: 0, outside: 2000000, count: 65536 }],
  },
  leftRunning: false,
  console: 'tty[8800:31]',
  files: [
    { name: 'pages-1.img', size: 4096, sha256: '11'.repeat(32) },
    { name: 'core-1.img', size: 300, sha256: '22'.repeat(32) },
  ],
};

test('the signed text does not depend on the order files were listed in', () => {
  assert.equal(signedText(facts), signedText({ ...facts, files: [...facts.files].reverse() }));
});

test('every fact is bound: container, config, map, console, each file', () => {
  const base = signedText(facts);
  const changed: CheckpointFacts[] = [
    { ...facts, container: '/tmp/other/containers/c1' },
    { ...facts, config: 'cd'.repeat(32) },
    { ...facts, idmap: { ...facts.idmap, uid: [{ inside: 0, outside: 0, count: 1 }] } },
    { ...facts, console: 'tty[8801:31]' },
    { ...facts, leftRunning: true },
    { ...facts, files: facts.files.slice(1) },
    { ...facts, files: [...facts.files, { name: 'extra.img', size: 1, sha256: '33'.repeat(32) }] },
    { ...facts, files: [{ ...facts.files[0]!, sha256: '44'.repeat(32) }, facts.files[1]!] },
  ];
  for (const c of changed) assert.notEqual(signedText(c), base);
});
