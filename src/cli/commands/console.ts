/** igloo console NAME: attach to init's console (detach: Ctrl-a q). */
import { IglooError } from '../../core/errors.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { consoleCommand as consoleSpec } from '../command-table.ts';
import type { Invocation } from '../spec.ts';

export async function attach({
  args: { NAME: name },
}: Invocation<typeof consoleSpec>): Promise<number> {
  const igloo = new Igloo();
  const state = await igloo.state(name);
  if (state.status !== 'running')
    throw new IglooError('ESTATE', `Cannot attach to "${name}": it is ${state.status}`, {
      op: 'console',
      subject: name,
      hint: `Start it: igloo start ${name}`,
    });
  return attachConsole(igloo.paths(name).consoleSocket, name);
}

/** Relays the terminal to the monitor's console socket until Ctrl-a q or the end. */
async function attachConsole(path: string, name: string): Promise<number> {
  // node:net costs every other command start-up time: loaded here only.
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const stdin = process.stdin;
    let prefix = false;
    // On detach or end, let go of the terminal and the socket entirely, so
    // nothing keeps this process alive.
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.removeAllListeners('data');
      stdin.destroy();
    };
    socket.on('error', (err) => {
      restore();
      reject(
        new IglooError('ESYS', `Cannot attach to the console of "${name}": ${err.message}`, {
          op: 'console',
          path,
          hint: 'Is the container running? (igloo ls)',
        }),
      );
    });
    socket.on('connect', () => {
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        process.stderr.write(`Connected to ${name}'s console. Detach with Ctrl-a q.\r\n`);
      }
      stdin.on('data', (chunk: Buffer) => {
        for (const byte of chunk) {
          if (prefix) {
            prefix = false;
            if (byte === 0x71 /* q */) {
              restore();
              socket.destroy();
              resolve(0);
              return;
            }
            if (byte !== 0x01) socket.write(Buffer.from([0x01]));
            socket.write(Buffer.from([byte]));
          } else if (byte === 0x01 /* Ctrl-a */) prefix = true;
          else socket.write(Buffer.from([byte]));
        }
      });
      stdin.on('end', () => socket.end());
      socket.pipe(process.stdout);
    });
    socket.on('close', () => {
      restore();
      resolve(0);
    });
  });
}
