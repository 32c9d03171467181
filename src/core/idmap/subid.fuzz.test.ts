/**
 * Fuzzing /etc/subuid and /etc/subgid parsing: any text gives entries that
 * are valid blocks plus problems for the rest (tolerant), or one EPARSE
 * (strict); and editing keeps every other byte.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../errors.ts';
import { MAX_ID } from './range.ts';
import { appendSubidLine, parseSubid, parseSubidStrict, removeSubidOwner } from './subid.ts';
import { mutatedText, onlyIglooErrors, params, seed } from '../../../test/support/fuzz.ts';

const seeds = [seed('subuid.txt')];

describe('subid fuzzing', () => {
  test('every line is an entry or a problem; entries are valid blocks', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedText(seeds, 8), fc.string()), (text) => {
        const { entries, problems } = parseSubid(text);
        const lines = text === '' ? 0 : text.replace(/\n$/, '').split('\n').length;
        assert.ok(entries.length + problems.length <= lines);
        for (const e of entries) {
          assert.ok(Number.isInteger(e.start) && e.start >= 0);
          assert.ok(Number.isInteger(e.count) && e.count > 0);
          assert.ok(e.start + e.count - 1 <= MAX_ID, `${e.start}+${e.count}`);
          assert.ok(e.owner !== '' && !e.owner.includes(':') && !/\s/.test(e.owner));
        }
        const strict = onlyIglooErrors(() => parseSubidStrict(text, { path: '/etc/subuid' }));
        if (strict instanceof IglooError) {
          assert.equal(strict.code, 'EPARSE');
          assert.ok(problems.length > 0);
        } else assert.deepEqual(strict, entries);
      }),
      params(500),
    );
  });

  test('adding then removing an owner gives the text back', () => {
    fc.assert(
      fc.property(
        mutatedText(seeds, 8),
        fc.integer({ min: 0, max: MAX_ID - 65536 }),
        (text, start) => {
          const owner = 'igloo-fuzz-owner';
          fc.pre(!text.includes(owner));
          const added = onlyIglooErrors(() =>
            appendSubidLine(text, owner, { start, count: 65536 }),
          );
          if (added instanceof IglooError) return;
          assert.ok(parseSubid(added).entries.some((e) => e.owner === owner && e.start === start));
          const { text: back, removed } = removeSubidOwner(added, [owner]);
          assert.deepEqual(
            removed.map((e) => [e.owner, e.start]),
            [[owner, start]],
          );
          // the separator newline appendSubidLine added stays: nothing else changed
          assert.equal(back, text !== '' && !text.endsWith('\n') ? `${text}\n` : text);
        },
      ),
      params(300),
    );
  });
});
