/** igloo create NAME [options] */
import { formatIdmapSpec } from '../../core/idmap/index.ts';
import { formatNetSpec } from '../../core/net/spec.ts';
import { hasLimits, parseLimits } from '../../core/limits/values.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import { limitTexts } from './limit-flags.ts';
import type { create as createSpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function create({
  options,
  args: { NAME: name },
}: Invocation<typeof createSpec>): Promise<number> {
  const limits = parseLimits(limitTexts(options), 'create');
  const igloo = new Igloo();
  const config = await igloo.create(name, {
    ...(options.image !== undefined && { image: options.image }),
    ...(options.idmap !== undefined && { idmap: options.idmap }),
    ...(options['slice-size'] !== undefined && { sliceSize: options['slice-size'] }),
    ...(options['slice-stride'] !== undefined && { sliceStride: options['slice-stride'] }),
    ...(options['slice-start'] !== undefined && { sliceStart: options['slice-start'] }),
    ...(options.init !== undefined && { init: options.init.split(/\s+/).filter(Boolean) }),
    ...(options.hostname !== undefined && { hostname: options.hostname }),
    ...(options.nesting === true && { nesting: true }),
    ...(options.net !== undefined && { net: options.net }),
    ...(options.publish?.length && { publish: options.publish }),
    ...(options.autostart === true && { autostart: true }),
    ...(hasLimits(limits) && { limits }),
    onNotice: (text) => process.stderr.write(`igloo: note: ${text}\n`),
  });
  if (options.json) printJson(config);
  else {
    process.stdout.write(
      `Created ${name} (ids ${formatIdmapSpec(config.idmap)}, network ${formatNetSpec(config.net ?? { mode: 'private' })})\n`,
    );
    process.stdout.write(`Limits: ${await igloo.limitsSummary(name)}\n`);
  }
  return 0;
}
