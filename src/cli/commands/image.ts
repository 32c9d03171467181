/** igloo image ls | import | rm | build: images (OCI and docker archives, busybox). */
import { IglooError } from '../../core/errors.ts';
import { formatImageRef } from '../../core/image/ref.ts';
import { BUILTIN_IMAGE } from '../../host/images.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { imageBuild, imageImport, imageLs, imageRm } from '../command-table.ts';
import { printJson, table } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function listImages({ options }: Invocation<typeof imageLs>): Promise<number> {
  const images = await new Igloo().images().list();
  if (options.json) {
    printJson([
      { name: BUILTIN_IMAGE, builtin: true },
      ...images.map((i) => ({ ...i, ref: formatImageRef(i), builtin: false })),
    ]);
    return 0;
  }
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const rows = [[BUILTIN_IMAGE, 'built-in', '-', '-', "from the host's static busybox"]];
  for (const i of images) {
    rows.push([
      formatImageRef(i),
      i.format,
      String(i.layers.length),
      mb(i.layers.reduce((n, l) => n + l.size, 0)),
      [...i.config.entrypoint, ...i.config.cmd].join(' ') || '-',
    ]);
  }
  process.stdout.write(table(['NAME', 'FORMAT', 'LAYERS', 'SIZE', 'COMMAND'], rows));
  return 0;
}

export async function importImage({
  options,
  args: { PATH: path },
}: Invocation<typeof imageImport>): Promise<number> {
  const tty = process.stderr.isTTY === true;
  const image = await new Igloo().images().import(path, {
    ...(options.name !== undefined && { name: options.name }),
    ...(tty && {
      progress: (text: string) => process.stderr.write(`\r\x1b[Kimporting ${path}: ${text}`),
    }),
  });
  if (tty) process.stderr.write('\r\x1b[K');
  if (options.json) printJson(image);
  else
    process.stdout.write(
      `Imported ${formatImageRef(image)} (${image.format}, ${image.layers.length} layers)\n`,
    );
  return 0;
}

export async function removeImage({
  args: { NAME: name },
}: Invocation<typeof imageRm>): Promise<number> {
  if (name === BUILTIN_IMAGE)
    throw new IglooError('EINVAL', `Cannot remove "${name}": it is built in`, {
      op: 'image rm',
      subject: name,
    });
  const removed = await new Igloo().removeImage(name);
  process.stdout.write(`Removed image ${formatImageRef(removed)}\n`);
  return 0;
}

export async function buildImage({ options }: Invocation<typeof imageBuild>): Promise<number> {
  const { buildDebian } = await import('../../lifecycle/debian.ts');
  const image = await buildDebian(new Igloo(), {
    ...(options.suite !== undefined && { suite: options.suite }),
    ...(options.name !== undefined && { name: options.name }),
    ...(options.mirror !== undefined && { mirror: options.mirror }),
    ...(options.include !== undefined && { include: options.include.split(',').filter(Boolean) }),
    progress: (line) => process.stderr.write(`igloo: ${line}\n`),
  });
  if (options.json) printJson(image);
  else
    process.stdout.write(
      `Built ${formatImageRef(image)} (${(image.layers[0]!.size / 1e6).toFixed(0)} MB)\n`,
    );
  return 0;
}
