/** igloo export | import-container: a container (rootfs, config, checkpoint) as one archive. */
import { formatRefused } from '../../core/config/import.ts';
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { exportContainer, importContainer } from '../../lifecycle/transfer.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type {
  exportContainer as exportSpec,
  importContainer as importSpec,
} from '../command-table.ts';
import { printResult } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function exportArchive({
  options,
  args: { NAME: name, FILE: file },
}: Invocation<typeof exportSpec>): Promise<number> {
  const r = await exportContainer(new Igloo(), name, file);
  printResult(
    options.json,
    r,
    `Exported ${name} to ${r.file}${r.checkpoint ? ' (with its checkpoint)' : ' (no checkpoint: it will start afresh)'}`,
  );
  return 0;
}

export async function importArchive({
  options,
  args: { FILE: file },
}: Invocation<typeof importSpec>): Promise<number> {
  const r = await importContainer(new Igloo(), file, {
    ...(options.name !== undefined && { name: options.name }),
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
  printResult(options.json, r, lines.join('\n'));
  return 0;
}
