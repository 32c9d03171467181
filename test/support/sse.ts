/**
 * Reads a server-sent event stream (igloo serve's GET /events): calls
 * onEvent with each event's parsed `data:` line.
 */
import type { Readable } from 'node:stream';

export function onServerEvents<T>(stream: Readable, onEvent: (event: T) => void): void {
  let buffer = '';
  stream.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(block);
      if (data) onEvent(JSON.parse(data[1]!) as T);
    }
  });
}
