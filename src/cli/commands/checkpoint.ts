/** igloo checkpoint | restore | export | import-container (CRIU; root only). */
import { IglooError } from '../../core/errors.ts';
import { formatRefused } from '../../core/config/import.ts';
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { Igloo } from '../../lifecycle/containers.ts';
import {
  checkpoint,
  exportContainer,
  importContainer,
  restore,
} from '../../lifecycle/checkpoint.ts';
import { parseCommandArgs, printJson } from '../output.ts';

const help: Record<string, string> = {
  checkpoint:
    "igloo checkpoint NAME [--dir D] [--leave-running] [--json]\n  Dumps a running container with CRIU (root only) into D (default: its directory's checkpoint/).\n  Without --leave-running the container stops. See docs/criu.md.\n",
  restore:
    'igloo restore NAME [--dir D] [--json]\n  Brings a checkpointed container back: same pids inside, same memory and files.\n',
  export:
    'igloo export NAME FILE [--json]\n  Writes rootfs, config and checkpoint images of a stopped (or checkpointed) container into one tar archive (mode 0600: it holds process memory).\n',
  'import-container':
    'igloo import-container FILE [--name N] [--json]\n  Creates a container from an archive made by igloo export; restore it with igloo restore N.\n  The archive is untrusted: unpacked in the new container\'s user namespace (no device nodes),\n  config lines igloo create would not write are refused (and listed), and its checkpoint is\n  kept only if this host made it (docs/criu.md, "Trust").\n',
};

export async function run(verb: string, args: string[]): Promise<number> {
  const text = help[verb]!;
  const { values, positionals } = parseCommandArgs(
    verb,
    args,
    {
      dir: { type: 'string' },
      'leave-running': { type: 'boolean' },
      name: { type: 'string' },
      json: { type: 'boolean' },
    },
    text,
  );
  if (values.help) {
    process.stdout.write(text);
    return 0;
  }
  const want = verb === 'export' ? 2 : 1;
  if (positionals.length !== want)
    throw new IglooError(
      'EINVAL',
      `${verb}: expected ${want === 2 ? 'NAME FILE' : verb === 'import-container' ? 'FILE' : 'NAME'}`,
      {
        op: verb,
        hint: `Usage: ${text.split('\n')[0]}`,
      },
    );
  const igloo = new Igloo();
  const [a, b] = positionals as [string, string];
  const out = (obj: object, line: string) => {
    if (values.json) printJson(obj);
    else process.stdout.write(line + '\n');
  };
  switch (verb) {
    case 'checkpoint': {
      const r = await checkpoint(igloo, a, {
        ...(values.dir !== undefined && { dir: values.dir }),
        leaveRunning: values['leave-running'] === true,
      });
      out(
        r,
        `Checkpointed ${a} into ${r.dir} (${r.seconds.toFixed(2)} s, ${(r.bytes / 1e6).toFixed(1)} MB)${values['leave-running'] ? '; it is still running' : '; it is stopped'}`,
      );
      return 0;
    }
    case 'restore': {
      const r = await restore(igloo, a, { ...(values.dir !== undefined && { dir: values.dir }) });
      out(r, `Restored ${a} (init is pid ${r.pid} on the host, ${r.seconds.toFixed(2)} s)`);
      return 0;
    }
    case 'export': {
      const r = await exportContainer(igloo, a, b);
      out(
        r,
        `Exported ${a} to ${r.file}${r.checkpoint ? ' (with its checkpoint)' : ' (no checkpoint: it will start afresh)'}`,
      );
      return 0;
    }
    case 'import-container': {
      const r = await importContainer(igloo, a, {
        ...(values.name !== undefined && { name: values.name }),
      });
      const lines = [
        `Imported ${r.name}${r.remapped ? ` into a new id slice (${formatIdmapSpec(r.idmap)}; files${r.checkpoint ? ' and checkpoint' : ''} moved to it)` : ''}${r.checkpoint ? `; restore it with: igloo restore ${r.name}` : ''}`,
        ...(r.refused.length
          ? [
              `Refused ${r.refused.length} line${r.refused.length === 1 ? '' : 's'} of the archive's config (igloo create would not write them; not applied):`,
              ...r.refused.map((x) => `  ${formatRefused(x)}`),
            ]
          : []),
        ...(r.skipped.length
          ? [
              `Skipped ${r.skipped.length} member${r.skipped.length === 1 ? '' : 's'} of the archive:`,
              ...r.skipped.map((x) => `  ${x}`),
            ]
          : []),
        ...(r.checkpointRefused !== undefined
          ? [
              `Its checkpoint is not restorable: ${r.checkpointRefused}; start it afresh: igloo start ${r.name}`,
            ]
          : []),
      ];
      out(r, lines.join('\n'));
      return 0;
    }
  }
  return 2;
}
