/**
 * Fuzzing the readers of an image archive's JSON (index.json, the OCI and
 * docker manifests, the image config): whatever the archive holds, they
 * return paths that stay inside the archive, or throw an IglooError that
 * names the file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../errors.ts';
import {
  layerEntry,
  manifestFromIndex,
  runConfigFromImageConfig,
  specFromDockerManifest,
  specFromOciManifest,
  type ImageSpec,
} from './oci.ts';
import { mutatedJson, onlyIglooErrors, params, seed } from '../../../test/support/fuzz.ts';

const index = seed('oci-index.json');
const oci = seed('oci-manifest.json');
const docker = seed('docker-manifest.json');
const config = seed('image-config.json');

function inside(p: string): void {
  assert.ok(!p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'), p);
}

function checkSpec(spec: ImageSpec): void {
  inside(spec.configPath);
  for (const l of spec.layers) inside(l.path);
  assert.ok(spec.tags.every((t) => typeof t === 'string'));
}

function namesFile(r: unknown, file: string): void {
  if (r instanceof IglooError) assert.ok(r.message.includes(file), r.message);
}

describe('OCI JSON fuzzing', () => {
  test('the seeds parse', () => {
    assert.match(manifestFromIndex(index).digest, /^sha256:/);
    assert.equal(specFromOciManifest(oci, 'm.json').layers.length, 2);
    assert.equal(specFromDockerManifest(docker).layers.length, 2);
    assert.equal(runConfigFromImageConfig(config, 'c.json').stopSignal, 'SIGQUIT');
  });

  test('index.json: a sha256 digest or an IglooError', () => {
    fc.assert(
      fc.property(mutatedJson([index]), fc.option(fc.string()), (text, tag) => {
        const r = onlyIglooErrors(() => manifestFromIndex(text, 'index.json', tag ?? undefined));
        namesFile(r, 'index.json');
        if (!(r instanceof IglooError)) assert.match(r.digest, /^sha256:[0-9a-f]{64}$/);
      }),
      params(400),
    );
  });

  test('manifests: paths inside the archive or an IglooError', () => {
    fc.assert(
      fc.property(mutatedJson([oci]), (text) => {
        const r = onlyIglooErrors(() => specFromOciManifest(text, 'blobs/m'));
        namesFile(r, 'blobs/m');
        if (!(r instanceof IglooError)) checkSpec(r);
      }),
      params(400),
    );
    fc.assert(
      fc.property(mutatedJson([docker]), (text) => {
        const r = onlyIglooErrors(() => specFromDockerManifest(text));
        namesFile(r, 'manifest.json');
        if (!(r instanceof IglooError)) checkSpec(r);
      }),
      params(400),
    );
  });

  test('image config: string fields or an IglooError', () => {
    fc.assert(
      fc.property(mutatedJson([config]), (text) => {
        const r = onlyIglooErrors(() => runConfigFromImageConfig(text, 'blobs/c'));
        namesFile(r, 'blobs/c');
        if (r instanceof IglooError) return;
        for (const list of [r.entrypoint, r.cmd, r.env])
          assert.ok(list.every((s) => typeof s === 'string'));
        assert.equal(typeof r.workingDir, 'string');
        assert.equal(typeof r.user, 'string');
      }),
      params(400),
    );
  });

  test('layer entry paths never leave the rootfs', () => {
    const segment = fc.oneof(
      fc.constantFrom(
        '..',
        '.',
        '',
        '.wh.',
        '.wh..wh..opq',
        '.wh..',
        '.wh...',
        'etc',
        '\0',
        'a\0b',
      ),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), fc.boolean(), (parts, abs) => {
        const raw = (abs ? '/' : '') + parts.join('/');
        const a = layerEntry(raw);
        const p = a.kind === 'opaque' ? a.dir : a.kind === 'skip' ? undefined : a.path;
        // '' is the rootfs itself ("./")
        if (p === undefined || p === '') return;
        inside(p);
        assert.ok(!p.split('/').includes('.') && !p.split('/').includes(''), `${raw} -> ${p}`);
      }),
      params(1000),
    );
  });
});
