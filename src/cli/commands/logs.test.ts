import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tailLines } from '../../lifecycle/logs.ts';
import { logWriter, neutralize } from './logs.ts';

test('neutralize() shows every control character but newline and tab as text', () => {
  // OSC title, CSI clear, a status query (ESC [ 6 n), BEL, C1 CSI (U+009B), DEL
  const hostile = 'a\x1b]0;pwned\x07b\x1b[2J\x1b[6n\tc\r\nd\u009b31me\x7f\x00';
  const shown = neutralize(hostile);
  assert.equal(shown, 'a^[]0;pwned^Gb^[[2J^[[6n\tc\nd<U+009B>31me^?^@');
  for (const ch of shown) {
    const code = ch.codePointAt(0)!;
    assert.ok(
      code === 0x09 ||
        code === 0x0a ||
        (code >= 0x20 && code !== 0x7f && (code < 0x80 || code > 0x9f)),
      `control character ${code} left`,
    );
  }
  assert.equal(neutralize('ünïcode ✓\n'), 'ünïcode ✓\n');
  assert.equal(neutralize('lone\rcr'), 'lone^Mcr');
});

test('logWriter(): raw into a pipe, neutralised on a terminal, CR LF and UTF-8 kept across chunks', () => {
  const sink = (isTTY: boolean) => {
    const chunks: Array<string | Buffer> = [];
    return { isTTY, chunks, write: (c: string | Buffer) => chunks.push(c) > 0 };
  };
  const pipe = sink(false);
  logWriter(pipe as never, false)(Buffer.from('\x1b[2J\r\n'));
  assert.deepEqual(pipe.chunks, [Buffer.from('\x1b[2J\r\n')]);

  const tty = sink(true);
  const w = logWriter(tty as never, false);
  const bytes = Buffer.from('x\x1b[1m✓\r\ny');
  const cut = bytes.indexOf('✓') + 1; // inside the UTF-8 sequence
  w(bytes.subarray(0, cut));
  w(bytes.subarray(cut, bytes.indexOf('\r') + 1)); // ends with the CR of CR LF
  w(bytes.subarray(bytes.indexOf('\r') + 1));
  assert.equal(tty.chunks.join(''), 'x^[[1m✓\ny');

  const forced = sink(true);
  logWriter(forced as never, true)(Buffer.from('\x1b'));
  assert.deepEqual(forced.chunks, [Buffer.from('\x1b')]);
});

test('tailLines() keeps the last N lines', () => {
  const b = Buffer.from('1\n2\n3\n');
  assert.equal(tailLines(b, 2).toString(), '2\n3\n');
  assert.equal(tailLines(b, 3).toString(), '1\n2\n3\n');
  assert.equal(tailLines(b, 9).toString(), '1\n2\n3\n');
  assert.equal(tailLines(b, 0).toString(), '');
  assert.equal(tailLines(Buffer.from('1\n2\npartial'), 1).toString(), 'partial');
  assert.equal(tailLines(b, undefined).toString(), '1\n2\n3\n');
});
