import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { manifestFromIndex, runConfigFromImageConfig, specFromOciManifest } from './oci.ts';
import {
  OCI_CONFIG,
  OCI_MANIFEST,
  imageConfigText,
  indexText,
  manifestText,
  ociArchitecture,
  type PushLayer,
} from './push-layout.ts';

const D = (c: string) => `sha256:${c.repeat(64)}`;

describe('the OCI layout of a push', () => {
  const layers: PushLayer[] = [
    { digest: D('a'), size: 10, gzip: true, diffId: D('b') },
    { digest: D('c'), size: 20, gzip: false, diffId: D('c') },
  ];
  const run = {
    entrypoint: ['/bin/sh', '-c'],
    cmd: ['echo hi'],
    env: ['A=1'],
    workingDir: '/opt',
    user: 'app',
  };

  test('reads back, through the parsers import uses, as the image it was', () => {
    const config = imageConfigText(run, layers, {
      architecture: 'amd64',
      created: '2026-01-01T00:00:00.000Z',
      stopSignal: 'SIGPWR',
    });
    assert.deepEqual(runConfigFromImageConfig(config, 'config'), { ...run, stopSignal: 'SIGPWR' });
    const parsed = JSON.parse(config) as {
      rootfs: { diff_ids: string[] };
      config: { StopSignal: string };
      os: string;
    };
    assert.deepEqual(parsed.rootfs.diff_ids, [D('b'), D('c')]);
    assert.equal(parsed.config.StopSignal, 'SIGPWR');
    assert.equal(parsed.os, 'linux');

    const manifest = manifestText({ mediaType: OCI_CONFIG, digest: D('e'), size: 99 }, layers);
    const spec = specFromOciManifest(manifest, 'manifest', ['app:1']);
    assert.equal(spec.configDigest, D('e'));
    assert.deepEqual(
      spec.layers.map((l) => [l.digest, l.mediaType]),
      [
        [D('a'), 'application/vnd.oci.image.layer.v1.tar+gzip'],
        [D('c'), 'application/vnd.oci.image.layer.v1.tar'],
      ],
    );

    const index = indexText({ mediaType: OCI_MANIFEST, digest: D('f'), size: 5 }, '1.0');
    assert.deepEqual(manifestFromIndex(index, 'index.json', '1.0'), {
      digest: D('f'),
      tags: ['1.0'],
    });
  });

  test('empty fields are left out, as docker writes them', () => {
    const config = JSON.parse(
      imageConfigText({ entrypoint: [], cmd: [], env: [], workingDir: '/', user: '' }, [], {
        architecture: 'arm64',
        created: 'x',
      }),
    ) as { config: object };
    assert.deepEqual(config.config, {});
  });

  test('architectures as OCI names them', () => {
    assert.equal(ociArchitecture('x64'), 'amd64');
    assert.equal(ociArchitecture('arm64'), 'arm64');
    assert.equal(ociArchitecture('ia32'), '386');
    assert.equal(ociArchitecture('mips'), 'mips');
  });
});
