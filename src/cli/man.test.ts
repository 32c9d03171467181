import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS } from './command-table.ts';
import { commandPage, manPages, overviewPage, roff } from './man.ts';
import { isFamily } from './spec.ts';

const DATE = '2026-12-03';

test('roff escapes hyphens and backslashes, and never lets a line start a request', () => {
  assert.equal(roff('--json'), '\\-\\-json');
  assert.equal(roff('a\\b'), 'a\\eb');
  assert.equal(roff(".TH evil\n'x\nok"), "\\&.TH evil\n\\&'x\nok");
});

test('one page per command and the overview, which names every page', () => {
  const pages = manPages(DATE, '1.2.3');
  assert.deepEqual(
    [...pages.keys()].sort(),
    ['igloo.1', ...COMMANDS.map((c) => `igloo-${c.name}.1`)].sort(),
  );
  const overview = overviewPage(DATE, '1.2.3');
  assert.match(overview, /^\.TH IGLOO 1 "2026-12-03" "igloo 1\.2\.3"/);
  for (const c of COMMANDS)
    assert.ok(
      overview.includes(`\\fB${roff(`igloo-${c.name}`)}\\fR(1)\n${roff(c.summary)}`),
      c.name,
    );
});

test("each page has the command's name, synopsis, every option and every example", () => {
  for (const entry of COMMANDS) {
    const page = commandPage(entry, DATE, '1.2.3');
    assert.match(page, /^\.TH IGLOO\\-/, entry.name);
    assert.ok(page.includes(`.SH NAME\n${roff(`igloo-${entry.name}`)} \\- ${roff(entry.summary)}`));
    for (const spec of isFamily(entry) ? entry.actions : [entry]) {
      assert.ok(page.includes(roff(`igloo ${spec.name}`)), spec.name);
      for (const [long, o] of Object.entries(spec.options)) {
        assert.ok(page.includes(`\\-\\-${roff(long)}\\fR`), `${spec.name} --${long}`);
        assert.ok(page.includes(roff(o.help)), `${spec.name} --${long} help`);
      }
      for (const e of spec.examples ?? []) assert.ok(page.includes(roff(e)), e);
    }
    for (const line of page.split('\n'))
      assert.ok(
        !/^[.'](?!TH |SH |PP$|TP$|br$|nf$|fi$|RS 4$|RE$)/.test(line),
        `${entry.name}: ${line}`,
      );
  }
});
