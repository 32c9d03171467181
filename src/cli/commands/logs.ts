/**
 * igloo logs NAME [-f] [--tail N] [--raw]: the console output the monitor
 * keeps (lifecycle/logs.ts).
 *
 * The bytes are the container's: a terminal that printed them as they are
 * would obey their escape sequences (set its title, redefine keys, answer
 * a status query by typing into the shell: the reply lands on the caller's
 * input). So on a terminal every control character but newline and tab is
 * shown as text (`^[`, `^M`, `<U+009B>`), as `cat -v` does, and the pty's
 * CR LF becomes LF. Into a pipe or a file the bytes pass as they are
 * (--raw asks for that on a terminal too).
 */
import { StringDecoder } from 'node:string_decoder';
import { Igloo } from '../../lifecycle/igloo.ts';
import { followConsoleLog, readConsoleLog } from '../../lifecycle/logs.ts';
import type { logs as logsSpec } from '../command-table.ts';
import type { Invocation } from '../spec.ts';

/** TEXT with every control character but \n and \t made visible; CR LF is LF. */
export function neutralize(text: string): string {
  let out = '';
  const src = text.replaceAll(/\r+\n/g, '\n');
  for (const ch of src) {
    const code = ch.codePointAt(0)!;
    if (code === 0x0a || code === 0x09 || (code >= 0x20 && code < 0x7f) || code > 0x9f) out += ch;
    else if (code < 0x20) out += `^${String.fromCharCode(code + 0x40)}`;
    else if (code === 0x7f) out += '^?';
    else out += `<U+${code.toString(16).toUpperCase().padStart(4, '0')}>`;
  }
  return out;
}

/** A writer for the log's bytes: neutralised on a terminal (UTF-8 kept across chunks). */
export function logWriter(out: NodeJS.WritableStream & { isTTY?: boolean }, raw: boolean) {
  if (raw || out.isTTY !== true) return (bytes: Buffer) => void out.write(bytes);
  const decoder = new StringDecoder('utf8');
  let held = '';
  return (bytes: Buffer) => {
    // A CR at a chunk's end may be the first half of CR LF: hold it back.
    let text = held + decoder.write(bytes);
    held = '';
    const m = /\r+$/.exec(text);
    if (m) {
      held = m[0];
      text = text.slice(0, m.index);
    }
    if (text) out.write(neutralize(text));
  };
}

export async function logs({
  options,
  args: { NAME: name },
}: Invocation<typeof logsSpec>): Promise<number> {
  const igloo = new Igloo();
  const write = logWriter(process.stdout, options.raw === true);
  const tail = options.tail;
  if (!options.follow) {
    write(await readConsoleLog(igloo, name, tail === undefined ? {} : { tail }));
    return 0;
  }
  const stop = new AbortController();
  const end = () => stop.abort();
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  try {
    await followConsoleLog(igloo, name, write, {
      signal: stop.signal,
      ...(tail !== undefined && { tail }),
    });
  } finally {
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
  }
  return 0;
}
