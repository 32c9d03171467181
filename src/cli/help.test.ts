import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS } from './command-table.ts';
import { commandHelp, overview, synopsis } from './help.ts';
import { isFamily, type CommandSpec } from './spec.ts';

const leaves: CommandSpec[] = COMMANDS.flatMap((c) => (isFamily(c) ? [...c.actions] : [c]));

test('igloo --help lists every command with its summary', () => {
  const text = overview();
  assert.match(text, /^Usage: igloo <command> \[options\]\n/);
  for (const c of COMMANDS)
    assert.match(text, new RegExp(`^  ${c.name} +${escape(c.summary)}$`, 'm'));
});

test("each command's help has its usage, description, every option and its examples", () => {
  for (const spec of leaves) {
    const text = commandHelp(spec);
    assert.ok(text.startsWith(`Usage: ${synopsis(spec)}\n`), spec.name);
    const words = (t: string) => t.replace(/\s+/g, ' ');
    assert.ok(words(text).includes(words(spec.description)), spec.name);
    for (const [long, o] of Object.entries(spec.options)) {
      assert.match(text, new RegExp(`--${long}\\b`), `${spec.name} --${long}`);
      if (o.short) assert.match(text, new RegExp(`-${o.short}, --${long}`), spec.name);
    }
    assert.match(text, /-h, --help +show this help/);
    for (const e of spec.examples ?? []) assert.ok(text.includes(`  ${e}\n`), spec.name);
    for (const line of text.split('\n'))
      assert.ok(line.length <= 80 || !line.includes(' ', 40), `${spec.name}: ${line}`);
  }
});

test('synopses: positionals, options and the command after --', () => {
  const byName = new Map(leaves.map((s) => [s.name, s]));
  const of = (name: string) => synopsis(byName.get(name)!);
  assert.equal(of('exec'), 'igloo exec NAME [options] -- CMD [ARG...]');
  assert.equal(of('run'), 'igloo run [options] [-- CMD [ARG...]]');
  assert.equal(of('kill'), 'igloo kill NAME [SIGNAL]');
  assert.equal(of('ps'), 'igloo ps [NAME...] [options]');
  assert.equal(of('image build'), 'igloo image build debian [options]');
  assert.equal(of('export'), 'igloo export NAME FILE [options]');
});

test("a family's help lists its actions", () => {
  for (const family of COMMANDS.filter(isFamily)) {
    const text = commandHelp(family);
    for (const a of family.actions) assert.ok(text.includes(synopsis(a)), a.name);
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
