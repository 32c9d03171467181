/** igloo copy SRC DST [--idmap MAP] */
import { Igloo } from '../../lifecycle/igloo.ts';
import type { copy as copySpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function copy({
  options,
  args: { SRC: src, DST: dst },
}: Invocation<typeof copySpec>): Promise<number> {
  const config = await new Igloo().copy(src, dst, {
    ...(options.idmap !== undefined && { idmap: options.idmap }),
  });
  if (options.json) printJson(config);
  else {
    const u = config.idmap.uid[0];
    process.stdout.write(
      `Copied ${src} to ${dst}${u ? ` (ids ${u.outside}..${u.outside + u.count - 1})` : ''}\n`,
    );
  }
  return 0;
}
