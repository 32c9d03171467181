/**
 * Fixtures for `igloo serve`: starting it as a user (stopped by cleanup,
 * killed if it does not stop), and reading its server-sent event stream.
 */
import type { Readable } from 'node:stream';
import { spawnAs, stagedCli, type Cleanup, type TestUser } from './host.ts';

/** Starts `igloo serve ARGS` as USER (root: with ENV) and waits for its "listening" line (and the token with --listen). */
export async function startServe(
  cleanup: Cleanup,
  user: TestUser | 'root',
  args: string[],
  env: Record<string, string> = {},
) {
  const argv = [process.execPath, stagedCli(cleanup), 'serve', ...args];
  const session =
    user === 'root'
      ? spawnAs('root', ['env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv])
      : spawnAs(user, argv);
  cleanup.add('stop igloo serve', async () => {
    if (session.child.exitCode === null) {
      session.child.kill('SIGTERM');
      const killer = setTimeout(() => session.child.kill('SIGKILL'), 5000);
      await session.exited;
      clearTimeout(killer);
    }
  });
  await session.waitFor(args.includes('--listen') ? /token=\S+\n/ : /listening on (\S+)\n/, 30_000);
  const socket = /listening on (\S+)\n/.exec(session.stdout)![1]!;
  const url = /(http:\/\/\S+)\?token=(\S+)\n/.exec(session.stdout);
  return {
    session,
    socket,
    ...(url && {
      url: `${url[1]!}?token=${url[2]!}`,
      port: Number(new URL(url[1]!).port),
      token: url[2]!,
    }),
  };
}

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
