/** igloo run [--image I] [--name N] [--rm] [--idmap M] [-t|-T] [-- CMD [ARG...]] */
import { uniqueSuffix } from '../../host/files.ts';
import { BUILTIN_IMAGE } from '../../host/images.ts';
import { commandFor } from '../../core/image/oci.ts';
import { hasLimits, parseLimits } from '../../core/limits/values.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import { limitTexts } from './limit-flags.ts';
import type { run as runSpec } from '../command-table.ts';
import { usageError } from '../parse.ts';
import type { Invocation } from '../spec.ts';
import { ttyChoice } from './tty-choice.ts';

export async function run({ spec, options, command }: Invocation<typeof runSpec>): Promise<number> {
  const igloo = new Igloo();
  // An imported image brings its own command (Entrypoint + Cmd); a
  // command given after -- replaces Cmd and keeps the Entrypoint.
  const stored =
    options.image !== undefined && options.image !== BUILTIN_IMAGE && !options.image.startsWith('/')
      ? await igloo.images().get(options.image)
      : undefined;
  const tty = ttyChoice(spec, options);
  const limits = parseLimits(limitTexts(options), 'run');
  const argv = stored ? commandFor(stored.config, command) : command;
  if (argv.length === 0)
    throw usageError(spec, 'no command given after -- (and the image has none)');
  if (options.name === undefined && (options.image ?? BUILTIN_IMAGE) === BUILTIN_IMAGE) {
    // A one-shot busybox run: its files are made in memory, nothing is built on disk.
    const opts = {
      tty,
      ...(options.idmap !== undefined && { idmap: options.idmap }),
      ...(hasLimits(limits) && { limits }),
      ...(options.net !== undefined && { net: options.net }),
      ...(options.publish?.length && { publish: options.publish }),
    };
    return (await igloo.runEphemeral(argv, opts)).exitCode;
  }
  const name = options.name ?? `run-${uniqueSuffix()}`;
  const exists = (await igloo.names()).includes(name);
  if (!exists) {
    await igloo.create(name, {
      ...(options.image !== undefined && { image: options.image }),
      ...(options.idmap !== undefined && { idmap: options.idmap }),
      ...(hasLimits(limits) && { limits }),
      ...(options.net !== undefined && { net: options.net }),
      ...(options.publish?.length && { publish: options.publish }),
    });
  } else if (options.net !== undefined || options.publish?.length) {
    throw usageError(
      spec,
      `--net and -p apply to a new container; "${name}" exists (its config says)`,
    );
  } else if (hasLimits(limits)) await igloo.setLimits(name, limitTexts(options));
  const removeAfter = options.rm === true || options.name === undefined;
  try {
    return (await igloo.runForeground(name, argv, { tty })).exitCode;
  } finally {
    if (removeAfter) await igloo.destroy(name, { force: true });
  }
}
