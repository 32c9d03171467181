import { IglooError } from '../../core/errors.ts';
import { BUILTIN_IMAGE } from '../../host/images.ts';
import { Igloo } from '../../lifecycle/containers.ts';
import { parseCommandArgs, printJson, table } from '../output.ts';

const help = `igloo image ls|import|rm ...
  igloo image ls [--json]                  your images (and the built-in "busybox")
  igloo image import PATH [--name N]       an oci-archive or docker-archive tarball, or an OCI layout directory
                                           (read as untrusted: a link, FIFO or device in it is refused)
  igloo image rm NAME                      remove an image (containers with a copy keep their files;
                                           one that root's containers share is refused, naming them)
  igloo image build debian [--suite S] [--name N] [--mirror URL] [--include PKG,...]
                                           a Debian system image (sysvinit) made with debootstrap
`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'image',
    args,
    {
      json: { type: 'boolean' },
      name: { type: 'string' },
      suite: { type: 'string' },
      mirror: { type: 'string' },
      include: { type: 'string' },
    },
    help,
  );
  const [action, arg, ...extra] = positionals;
  if (values.help || action === undefined) {
    process.stdout.write(help);
    return values.help ? 0 : 2;
  }
  if (extra.length)
    throw new IglooError('EINVAL', `image: unexpected argument "${extra[0]}"`, {
      op: 'image',
      hint: help.split('\n')[1]?.trim(),
    });
  const store = new Igloo().images();
  switch (action) {
    case 'ls': {
      const images = await store.list();
      if (values.json)
        printJson([
          { name: BUILTIN_IMAGE, builtin: true },
          ...images.map((i) => ({ ...i, builtin: false })),
        ]);
      else {
        const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
        const rows = [[BUILTIN_IMAGE, 'built-in', '-', '-', "from the host's static busybox"]];
        for (const i of images) {
          rows.push([
            i.name,
            i.format,
            String(i.layers.length),
            mb(i.layers.reduce((n, l) => n + l.size, 0)),
            [...i.config.entrypoint, ...i.config.cmd].join(' ') || '-',
          ]);
        }
        process.stdout.write(table(['NAME', 'FORMAT', 'LAYERS', 'SIZE', 'COMMAND'], rows));
      }
      return 0;
    }
    case 'import': {
      if (!arg)
        throw new IglooError('EINVAL', 'image import: missing PATH', {
          op: 'image import',
          hint: 'igloo image import PATH [--name N]',
        });
      const tty = process.stderr.isTTY === true;
      const image = await store.import(arg, {
        ...(values.name !== undefined && { name: values.name }),
        ...(tty && {
          progress: (text: string) => process.stderr.write(`\r\x1b[Kimporting ${arg}: ${text}`),
        }),
      });
      if (tty) process.stderr.write('\r\x1b[K');
      if (values.json) printJson(image);
      else
        process.stdout.write(
          `Imported ${image.name} (${image.format}, ${image.layers.length} layers)\n`,
        );
      return 0;
    }
    case 'rm': {
      if (!arg)
        throw new IglooError('EINVAL', 'image rm: missing NAME', {
          op: 'image rm',
          hint: 'igloo image rm NAME',
        });
      if (arg === BUILTIN_IMAGE)
        throw new IglooError('EINVAL', `Cannot remove "${arg}": it is built in`, {
          op: 'image rm',
          subject: arg,
        });
      await new Igloo().removeImage(arg);
      process.stdout.write(`Removed image ${arg}\n`);
      return 0;
    }
    case 'build': {
      if (arg !== 'debian')
        throw new IglooError('EINVAL', `image build: unknown kind "${arg ?? ''}"`, {
          op: 'image build',
          hint: 'igloo image build debian [--suite bookworm]',
        });
      const { buildDebian } = await import('../../lifecycle/debian.ts');
      const image = await buildDebian(new Igloo(), {
        ...(values.suite !== undefined && { suite: values.suite }),
        ...(values.name !== undefined && { name: values.name }),
        ...(values.mirror !== undefined && { mirror: values.mirror }),
        ...(values.include !== undefined && { include: values.include.split(',').filter(Boolean) }),
        progress: (line) => process.stderr.write(`igloo: ${line}\n`),
      });
      if (values.json) printJson(image);
      else
        process.stdout.write(
          `Built ${image.name} (${(image.layers[0]!.size / 1e6).toFixed(0)} MB)\n`,
        );
      return 0;
    }
    default:
      throw new IglooError('EINVAL', `image: unknown action "${action}"`, {
        op: 'image',
        hint: 'Use ls, import, rm or build',
      });
  }
}
