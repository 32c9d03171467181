import { runChecks } from '../../host/check.ts';
import { paint, parseCommandArgs, printJson } from '../output.ts';

const help = `igloo check [--json]
  Checks that this host can run unprivileged containers for you: user
  namespaces, newuidmap/newgidmap, your /etc/subuid and /etc/subgid
  delegation, cgroups, the native helper, busybox and criu.
  Exits 1 if a check fails (warnings do not fail).
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs('check', args, { json: { type: 'boolean' } }, help, false);
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const results = await runChecks();
  const failed = results.some((r) => r.status === 'fail');
  if (values.json) printJson({ ok: !failed, checks: results });
  else {
    const width = Math.max(...results.map((r) => r.name.length));
    for (const r of results) {
      const mark =
        r.status === 'ok'
          ? paint('green', 'ok  ')
          : r.status === 'warn'
            ? paint('yellow', 'warn')
            : paint('red', 'FAIL');
      process.stdout.write(`${mark}  ${r.name.padEnd(width)}  ${r.detail}\n`);
      if (r.fix && r.status !== 'ok')
        process.stdout.write(`      ${' '.repeat(width)}  fix: ${r.fix}\n`);
    }
  }
  return failed ? 1 : 0;
}
