/**
 * Fuzzing the config file parser (the file is the user's, or an imported
 * archive's): mutated configs parse into a valid model or fail with an
 * IglooError naming the line, and what parses round-trips through
 * formatConfig().
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IglooError } from '../errors.ts';
import { formatConfig, parseConfig, parseConfigText } from './file.ts';
import { validateConfig } from './validate.ts';
import { mutatedText, onlyIglooErrors, params, seed } from '../../../test/support/fuzz.ts';

const seeds = [seed('config-full.conf'), seed('config-lxc.conf')];

describe('config file fuzzing', () => {
  test('the seeds parse', () => {
    assert.equal(parseConfig(seeds[0]!).name, 'anna-c1');
    assert.ok(parseConfigText(seeds[1]!).warnings.length > 0);
  });

  test('a mutated config is a valid model that round-trips, or an IglooError naming the line', () => {
    fc.assert(
      fc.property(mutatedText(seeds), (text) => {
        const r = onlyIglooErrors(() => parseConfig(text, { path: '/c/config' }));
        if (r instanceof IglooError) {
          assert.match(r.message, /\/c\/config/, 'the error names the file');
          return;
        }
        assert.deepEqual(validateConfig(r), r, 'parseConfig returned an invalid model');
        assert.deepEqual(parseConfig(formatConfig(r)), r, 'formatConfig does not round-trip');
      }),
      params(300),
    );
  });

  test('lines of any text never throw anything but an IglooError', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 8 }), (pairs) => {
        const keys = ['igloo.name', 'igloo.idmap', 'igloo.mount', 'igloo.init', 'igloo.net'];
        const text = pairs
          .map(([k, v], i) => `${i % 2 ? keys[i % keys.length] : k} = ${v}`)
          .join('\n');
        onlyIglooErrors(() => parseConfig(text));
      }),
      params(300),
    );
  });
});
