/**
 * Fuzzing the manifests that travel with untrusted files: a checkpoint's
 * igloo-checkpoint.json (readManifest) and an export archive's
 * igloo-export.json (parseExportManifest). Either a manifest whose id maps
 * are valid, or an IglooError naming the checkpoint or the archive.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../core/errors.ts';
import { validateMap } from '../core/idmap/index.ts';
import { MANIFEST, readManifest } from './checkpoint-manifest.ts';
import { parseExportManifest } from './transfer.ts';
import { mutatedJson, onlyIglooErrors, params, seed } from '../../test/support/fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'igloo-manifest-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const checkpoint = seed('checkpoint-manifest.json');
const exported = seed('export-manifest.json');

describe('manifest fuzzing', () => {
  test('the seeds parse', async () => {
    writeFileSync(join(dir, MANIFEST), checkpoint);
    assert.equal((await readManifest(dir, 'web')).name, 'web');
    assert.equal(parseExportManifest(exported, 'a.tar').name, 'web');
  });

  test('a checkpoint manifest: valid fields or an IglooError naming the checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedJson([checkpoint]), async (text) => {
        writeFileSync(join(dir, MANIFEST), text);
        let m;
        try {
          m = await readManifest(dir, 'web');
        } catch (err) {
          assert.ok(err instanceof IglooError, `not an IglooError: ${String(err)}`);
          assert.ok(err.message.includes(dir), err.message);
          return;
        }
        assert.equal(m.version, 1);
        for (const k of ['name', 'createdAt', 'criu'] as const) assert.equal(typeof m[k], 'string');
        assert.equal(typeof m.leftRunning, 'boolean');
        validateMap(m.idmap.uid, 'uid');
        validateMap(m.idmap.gid, 'gid');
      }),
      params(300),
    );
  });

  test('an export manifest: a name and valid maps or an IglooError naming the archive', () => {
    fc.assert(
      fc.property(mutatedJson([exported]), (text) => {
        const r = onlyIglooErrors(() => parseExportManifest(text, '/x/a.tar'));
        if (r instanceof IglooError) {
          assert.ok(r.message.includes('/x/a.tar'), r.message);
          return;
        }
        assert.equal(typeof r.name, 'string');
        validateMap(r.idmap.uid, 'uid');
        validateMap(r.idmap.gid, 'gid');
      }),
      params(300),
    );
  });
});
