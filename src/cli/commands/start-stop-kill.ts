/** igloo start | stop | kill: an existing container's init. */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { kill as killSpec, start as startSpec, stop as stopSpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function start({
  options,
  args: { NAME: name },
}: Invocation<typeof startSpec>): Promise<number> {
  const state = await new Igloo().start(name, {
    ...(options.console !== undefined && { console: options.console }),
  });
  if (options.json) printJson(state);
  else process.stdout.write(`Started ${name} (init is pid ${state.pid})\n`);
  return 0;
}

export async function stop({
  options,
  args: { NAME: name },
}: Invocation<typeof stopSpec>): Promise<number> {
  const state = await new Igloo().stop(name, options.timeout ?? 10);
  process.stdout.write(`Stopped ${name}${state.lastExit ? ` (init ${state.lastExit})` : ''}\n`);
  return 0;
}

export async function kill({
  args: { NAME: name, SIGNAL: signal = 'SIGTERM' },
}: Invocation<typeof killSpec>): Promise<number> {
  await new Igloo().kill(
    name,
    /^\d+$/.test(signal) || signal.startsWith('SIG') ? signal : `SIG${signal.toUpperCase()}`,
  );
  return 0;
}
