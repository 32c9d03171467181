import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonText, ownRows } from './ps.ts';

test('jsonText() is the indented document with one process per line', () => {
  const doc = {
    version: 1,
    view: { userns: 1, pidns: 2, initial: true },
    processes: [
      { pid: 1, command: 'sh -c "x},{\\"pid\\":2"', uid: { host: 0, chain: [] } },
      { pid: 7, command: '},{"pid":', uid: { host: 5, chain: [{ userns: 3, id: 0 }] } },
    ],
    tree: undefined,
  };
  const text = jsonText(doc);
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(doc)));
  const lines = text.split('\n');
  assert.equal(lines.filter((l) => l.startsWith('    {"pid":')).length, 2);
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(JSON.parse(jsonText({ version: 1, processes: [] })), {
    version: 1,
    processes: [],
  });
});

test("ownRows() keeps the caller's processes and those of the containers they own", () => {
  const row = (host: number, ownerUid: number | null) => ({
    uid: { host, hostName: null, inside: null, insideName: null, chain: [] },
    container: { kind: 'host' as const, name: null, owner: null, ownerUid },
  });
  const rows = [
    row(1001, null),
    row(2000000, 1001),
    row(0, null),
    row(1002, null),
    row(3000000, 1002),
  ];
  assert.deepEqual(ownRows(rows, 1001), [rows[0], rows[1]]);
  assert.deepEqual(ownRows(rows, 1002), [rows[3], rows[4]]);
  assert.deepEqual(ownRows(rows, 1003), []);
});
