import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import {
  formatImageRef,
  imageDirName,
  localRefFromTag,
  newImageRef,
  parseImageRef,
  parseRemoteRef,
  refFromDirName,
  resolveImageRef,
} from './ref.ts';

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) =>
      err instanceof IglooError && err.code === 'EINVAL' && pattern.test(err.message),
  );
}

describe('parseImageRef()', () => {
  test('NAME and NAME:TAG', () => {
    assert.deepEqual(parseImageRef('debian'), { name: 'debian' });
    assert.deepEqual(parseImageRef('debian:bookworm'), { name: 'debian', tag: 'bookworm' });
    assert.deepEqual(parseImageRef('app-1.0:v1.2_3'), { name: 'app-1.0', tag: 'v1.2_3' });
    assert.deepEqual(newImageRef('deb'), { name: 'deb', tag: 'latest' });
    assert.deepEqual(newImageRef('deb:x'), { name: 'deb', tag: 'x' });
  });
  test('refuses names and tags that could leave the store or confuse a path', () => {
    for (const bad of [
      '',
      '../x',
      'a/b',
      '.x',
      'a b',
      'a:',
      'a:b:c',
      'a:-x',
      'a:.x',
      'a:b/c',
      ':t',
    ])
      rejects(() => parseImageRef(bad), /Invalid image name/);
    rejects(() => parseImageRef(`a:${'t'.repeat(129)}`), /the tag must match/);
    rejects(() => parseImageRef('a+b'), /the name must match/);
  });
  test('directory names round-trip and never collide with a name before tags', () => {
    const refs = [
      { name: 'debian', tag: 'bookworm' },
      { name: 'debian-bookworm' },
      { name: 'a.b' },
    ];
    for (const r of refs) assert.deepEqual(refFromDirName(imageDirName(r)), r);
    assert.equal(imageDirName({ name: 'debian', tag: 'bookworm' }), 'debian+bookworm');
    assert.equal(formatImageRef({ name: 'debian', tag: 'bookworm' }), 'debian:bookworm');
    assert.equal(formatImageRef({ name: 'old' }), 'old');
    assert.equal(refFromDirName('.import-abc'), undefined);
    assert.equal(refFromDirName('a+b+c'), undefined);
  });
});

describe('resolveImageRef()', () => {
  const images = [
    { name: 'debian', tag: 'bookworm', imported: '2026-01-01T00:00:00.000Z' },
    { name: 'debian', tag: 'trixie', imported: '2026-02-01T00:00:00.000Z' },
    { name: 'debian', tag: 'bullseye', imported: '2025-01-01T00:00:00.000Z' },
    { name: 'app', tag: 'latest', imported: '2025-01-01T00:00:00.000Z' },
    { name: 'app', tag: '2', imported: '2026-03-01T00:00:00.000Z' },
    { name: 'old', imported: '2024-01-01T00:00:00.000Z' },
  ];
  const pick = (text: string) => {
    const r = resolveImageRef(parseImageRef(text), images);
    return r && formatImageRef(r);
  };
  test('NAME:TAG names exactly that image', () => {
    assert.equal(pick('debian:bookworm'), 'debian:bookworm');
    assert.equal(pick('debian:sid'), undefined);
    assert.equal(pick('app:2'), 'app:2');
  });
  test('a bare name: its latest tag, else its newest', () => {
    assert.equal(pick('app'), 'app:latest');
    assert.equal(pick('debian'), 'debian:trixie');
    assert.equal(pick('nothing'), undefined);
  });
  test('images stored before tags keep their name, and are NAME:latest too', () => {
    assert.equal(pick('old'), 'old');
    assert.equal(pick('old:latest'), 'old');
    assert.equal(pick('old:1'), undefined);
  });
});

describe('parseRemoteRef()', () => {
  test('registry, repository, tag and digest', () => {
    assert.deepEqual(parseRemoteRef('localhost:5000/team/app:1.0'), {
      transport: 'docker://localhost:5000/team/app:1.0',
      registry: 'localhost:5000',
      repository: 'team/app',
      tag: '1.0',
      local: { name: 'app', tag: '1.0' },
    });
    assert.deepEqual(parseRemoteRef('docker://127.0.0.1:5000/app'), {
      transport: 'docker://127.0.0.1:5000/app',
      registry: '127.0.0.1:5000',
      repository: 'app',
      local: { name: 'app', tag: 'latest' },
    });
    const d = `sha256:${'ab'.repeat(32)}`;
    const r = parseRemoteRef(`quay.io/x/y@${d}`);
    assert.equal(r.digest, d);
    assert.equal(r.transport, `docker://quay.io/x/y@${d}`);
    assert.deepEqual(r.local, { name: 'y', tag: 'abababababab' });
    // a short name: skopeo resolves it through registries.conf
    assert.deepEqual(parseRemoteRef('alpine:3.19'), {
      transport: 'docker://alpine:3.19',
      repository: 'alpine',
      tag: '3.19',
      local: { name: 'alpine', tag: '3.19' },
    });
  });
  test('refuses other transports, bad names, tags, digests and hosts', () => {
    rejects(() => parseRemoteRef('oci:/tmp/x'), /Invalid registry reference/);
    rejects(() => parseRemoteRef('dir:///etc'), /only the docker:\/\/ transport/);
    rejects(() => parseRemoteRef(''), /empty/);
    rejects(() => parseRemoteRef('localhost:5000/App'), /not a repository name/);
    rejects(() => parseRemoteRef('localhost:5000/a/../b'), /not a repository name/);
    rejects(() => parseRemoteRef('localhost:5000/a:-x'), /not a tag/);
    rejects(() => parseRemoteRef('localhost:5000/a@sha256:zz'), /not a sha256 digest/);
    rejects(() => parseRemoteRef('local host:5000/a'), /not a host/);
    rejects(() => parseRemoteRef('--src-tls-verify=false'), /not a repository name/);
  });
  test('localRefFromTag(): the name an archive tag gives an image', () => {
    assert.deepEqual(localRefFromTag('docker.io/library/alpine:3.19'), {
      name: 'alpine',
      tag: '3.19',
    });
    assert.deepEqual(localRefFromTag('localhost/app:1.0'), { name: 'app', tag: '1.0' });
    assert.equal(localRefFromTag('Not A Tag'), undefined);
  });
});
