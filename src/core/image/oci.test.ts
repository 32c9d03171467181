import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IglooError } from '../errors.ts';
import {
  archivePath,
  blobPath,
  commandFor,
  layerEntry,
  manifestFromIndex,
  runConfigFromImageConfig,
  specFromDockerManifest,
  specFromOciManifest,
} from './oci.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;

function rejects(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) => err instanceof IglooError && err.code === code && pattern.test(err.message),
  );
}

describe('layerEntry()', () => {
  test('classifies entries, whiteouts and opaque markers', () => {
    assert.deepEqual(layerEntry('./etc/passwd'), { kind: 'entry', path: 'etc/passwd' });
    assert.deepEqual(layerEntry('/abs/file'), { kind: 'entry', path: 'abs/file' });
    assert.deepEqual(layerEntry('etc/.wh.passwd'), { kind: 'whiteout', path: 'etc/passwd' });
    assert.deepEqual(layerEntry('.wh.top'), { kind: 'whiteout', path: 'top' });
    assert.deepEqual(layerEntry('opt/old/.wh..wh..opq'), { kind: 'opaque', dir: 'opt/old' });
    assert.deepEqual(layerEntry('.wh..wh..opq'), { kind: 'opaque', dir: '' });
  });
  test('refuses ".." anywhere and bad whiteouts; "./" is the rootfs itself', () => {
    for (const p of ['../x', 'a/../../b', 'a/..']) assert.equal(layerEntry(p).kind, 'skip', p);
    assert.equal(layerEntry('etc/.wh.').kind, 'skip');
    assert.deepEqual(layerEntry('./'), { kind: 'entry', path: '' });
  });
});

describe('OCI layout', () => {
  const index = JSON.stringify({
    manifests: [
      {
        digest: D('a'),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        annotations: { 'org.opencontainers.image.ref.name': 'app:1' },
      },
    ],
  });
  test('manifestFromIndex() picks the first manifest or the tagged one', () => {
    assert.deepEqual(manifestFromIndex(index), { digest: D('a'), tags: ['app:1'] });
    assert.equal(manifestFromIndex(index, 'index.json', 'app:1').digest, D('a'));
    rejects(
      () => manifestFromIndex(index, 'index.json', 'other'),
      'EPARSE',
      /no image tagged "other"/,
    );
    rejects(() => manifestFromIndex('{"manifests":[]}'), 'EPARSE', /manifests is empty/);
    rejects(() => manifestFromIndex('{'), 'EPARSE', /JSON does not parse/);
    rejects(
      () => manifestFromIndex('{"manifests":[{"digest":"sha256:../../etc"}]}'),
      'EPARSE',
      /is not a sha256 digest/,
    );
    rejects(
      () =>
        manifestFromIndex(
          JSON.stringify({
            manifests: [{ digest: D('b'), mediaType: 'application/vnd.oci.image.index.v1+json' }],
          }),
        ),
      'EINVAL',
      /multi-arch/,
    );
  });
  test('specFromOciManifest() lists layers as blob paths and refuses unknown media types', () => {
    const manifest = JSON.stringify({
      config: { digest: D('c') },
      layers: [{ digest: D('d'), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
    });
    assert.deepEqual(specFromOciManifest(manifest, 'm', ['t']), {
      format: 'oci',
      configPath: `blobs/sha256/${'c'.repeat(64)}`,
      configDigest: D('c'),
      layers: [
        {
          path: `blobs/sha256/${'d'.repeat(64)}`,
          digest: D('d'),
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        },
      ],
      tags: ['t'],
    });
    const zstd = JSON.stringify({
      config: { digest: D('c') },
      layers: [{ digest: D('d'), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }],
    });
    rejects(() => specFromOciManifest(zstd, 'm'), 'EINVAL', /tar\+zstd, which igloo cannot apply/);
    rejects(
      () => specFromOciManifest('{"config":{},"layers":[]}', 'm'),
      'EPARSE',
      /config.digest is not a string/,
    );
  });
});

describe('docker-archive and image config', () => {
  test('specFromDockerManifest() reads the first image and refuses paths outside the archive', () => {
    const spec = specFromDockerManifest(
      JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l0/layer.tar'] }]),
    );
    assert.deepEqual(spec, {
      format: 'docker',
      configPath: 'c.json',
      layers: [{ path: 'l0/layer.tar' }],
      tags: ['x:1'],
    });
    rejects(
      () => specFromDockerManifest(JSON.stringify([{ Config: '../c.json', Layers: [] }])),
      'EPARSE',
      /outside the archive/,
    );
    rejects(
      () => specFromDockerManifest(JSON.stringify([{ Config: 'c.json', Layers: ['/etc/passwd'] }])),
      'EPARSE',
      /outside the archive/,
    );
    rejects(() => specFromDockerManifest('[]'), 'EPARSE', /is empty/);
  });
  test('runConfigFromImageConfig() takes a StopSignal igloo can send', () => {
    const c = (s: unknown) => JSON.stringify({ config: { StopSignal: s } });
    assert.equal(runConfigFromImageConfig(c('SIGPWR'), 'c').stopSignal, 'SIGPWR');
    assert.equal(runConfigFromImageConfig(c('quit'), 'c').stopSignal, 'SIGQUIT');
    assert.equal(runConfigFromImageConfig(c(''), 'c').stopSignal, undefined);
    rejects(() => runConfigFromImageConfig(c('SIGNOPE'), 'c'), 'EPARSE', /not a signal/);
    rejects(() => runConfigFromImageConfig(c(15), 'c'), 'EPARSE', /not a string/);
  });
  test('runConfigFromImageConfig() fills defaults and checks types', () => {
    assert.deepEqual(runConfigFromImageConfig('{}', 'c'), {
      entrypoint: [],
      cmd: [],
      env: [],
      workingDir: '/',
      user: '',
    });
    assert.deepEqual(
      runConfigFromImageConfig(
        JSON.stringify({
          config: { Entrypoint: ['/e'], Cmd: ['a'], Env: ['A=1'], WorkingDir: '/w', User: 'u' },
        }),
        'c',
      ),
      { entrypoint: ['/e'], cmd: ['a'], env: ['A=1'], workingDir: '/w', user: 'u' },
    );
    rejects(
      () => runConfigFromImageConfig(JSON.stringify({ config: { Cmd: 'sh' } }), 'c'),
      'EPARSE',
      /config.Cmd is not a list/,
    );
    rejects(
      () => runConfigFromImageConfig(JSON.stringify({ config: { Env: [1] } }), 'c'),
      'EPARSE',
      /config.Env\[0\] is not a string/,
    );
  });
  test('commandFor(): a given command replaces Cmd and keeps Entrypoint', () => {
    const c = { entrypoint: ['/e'], cmd: ['default'], env: [], workingDir: '/', user: '' };
    assert.deepEqual(commandFor(c, []), ['/e', 'default']);
    assert.deepEqual(commandFor(c, ['x', 'y']), ['/e', 'x', 'y']);
    assert.deepEqual(commandFor({ ...c, entrypoint: [] }, ['x']), ['x']);
  });
  test('archivePath() and blobPath()', () => {
    assert.equal(archivePath('./a/b', 'f', 'x'), 'a/b');
    rejects(() => archivePath('', 'f', 'x'), 'EPARSE', /outside the archive/);
    assert.equal(blobPath(D('e'), 'f', 'x'), `blobs/sha256/${'e'.repeat(64)}`);
    rejects(() => blobPath('md5:abc', 'f', 'x'), 'EPARSE', /not a sha256 digest/);
  });
});
