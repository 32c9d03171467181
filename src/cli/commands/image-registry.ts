/** igloo image pull | push: images from and to an OCI registry (through skopeo). */
import { formatImageRef } from '../../core/image/ref.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { imagePull, imagePush } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

/** skopeo's lines ("Copying blob sha256:…") on stderr, so stdout stays the result. */
const progress = (line: string) => process.stderr.write(`igloo: ${line}\n`);

export async function pullImage({
  options,
  args: { REF: ref },
}: Invocation<typeof imagePull>): Promise<number> {
  const image = await new Igloo().pullImage(ref, {
    ...(options.name !== undefined && { name: options.name }),
    ...(options['tls-verify'] === 'false' && { tlsVerify: false }),
    progress,
  });
  if (options.json) printJson({ ...image, ref: formatImageRef(image) });
  else
    process.stdout.write(
      `Pulled ${formatImageRef(image)} from ${ref} (${image.layers.length} layers)\n`,
    );
  return 0;
}

export async function pushImage({
  options,
  args: { NAME: name, REF: ref },
}: Invocation<typeof imagePush>): Promise<number> {
  const pushed = await new Igloo().pushImage(name, ref, {
    ...(options['tls-verify'] === 'false' && { tlsVerify: false }),
    progress,
  });
  if (options.json)
    printJson({ image: formatImageRef(pushed.image), ref: pushed.ref, digest: pushed.digest });
  else process.stdout.write(`Pushed ${formatImageRef(pushed.image)} to ${ref}\n`);
  return 0;
}
