import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { COMMANDS } from './command-table.ts';
import { implementedCommands } from './implementations.ts';
import { isFamily } from './spec.ts';

test('every command of the table has an implementation, and nothing else has', () => {
  const names = COMMANDS.flatMap((c) => (isFamily(c) ? c.actions.map((a) => a.name) : [c.name]));
  assert.deepEqual([...implementedCommands()].sort(), [...names].sort());
});

test('the tables import no implementation (types only), so reading them costs nothing', () => {
  const source = readFileSync(new URL('./command-table.ts', import.meta.url), 'utf8');
  const imports = source.match(/^import .*$/gm) ?? [];
  for (const line of imports) assert.match(line, /^import type /, line);
});
