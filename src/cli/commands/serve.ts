/** igloo serve [--socket PATH] [--listen [HOST:]PORT] [--users-socket PATH]: REST and the page. */
import { createRequire } from 'node:module';
import type { serve as serveSpec } from '../command-table.ts';
import type { Invocation } from '../spec.ts';

export async function serve({ options }: Invocation<typeof serveSpec>): Promise<number> {
  // fastify and the page are loaded only here: no other command pays for them.
  // fastify is CommonJS and require()s Node's modules; in the ESM bundle the
  // require shim esbuild emits looks for a global one at call time.
  (globalThis as { require?: NodeJS.Require }).require ??= createRequire(import.meta.url);
  const { serve: start } = await import('../../serve/server.ts');
  const serving = await start({
    ...(options.socket !== undefined && { socket: options.socket }),
    ...(options.listen !== undefined && { listen: options.listen }),
    ...(options['users-socket'] !== undefined && { usersSocket: options['users-socket'] }),
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.once('disconnect', stop);
  });
  // Event streams and terminals end with the server; a stuck close does not keep it alive.
  const deadline = setTimeout(() => process.exit(0), 3000);
  await serving.close();
  clearTimeout(deadline);
  process.exit(0);
}
