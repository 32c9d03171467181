import { iglooDirs } from '../../lifecycle/paths.ts';
import { defaultDirsOf } from '../../core/layout.ts';
import { IglooError } from '../../core/errors.ts';
import { runAudit } from '../../host/audit.ts';
import { subidPaths } from '../../host/subid.ts';
import { currentUser, lookupHostUser } from '../../host/users.ts';
import { paint, parseCommandArgs, printJson } from '../output.ts';

const help = `igloo audit [--json] [--probe] [--user NAME]
  Looks for misconfigurations that would let a container reach its owner,
  another user or another container: overlapping delegations in
  /etc/subuid and /etc/subgid, containers that share a slice, maps that
  include host uid 0 or a real user's id, container directories others can
  traverse, containers without the seccomp filter or with extra
  capabilities, running containers whose init has no filter. Each finding
  says why it matters and how to fix it.
  --probe       (root) also try it: a process with each container's host root
                uid tries to read the owner's private file and directories
  --user NAME   (root) audit NAME's containers instead of your own
  Exits 1 if there is an error-level finding.
`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'audit',
    args,
    { json: { type: 'boolean' }, probe: { type: 'boolean' }, user: { type: 'string' } },
    help,
    false,
  );
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  let owner: { name: string; uid: number; gid: number; home: string } = await currentUser();
  let data = iglooDirs().data;
  if (values.user !== undefined) {
    if ((process.geteuid?.() ?? 0) !== 0)
      throw new IglooError(
        'EPERM',
        `Cannot audit the containers of "${values.user}": only root may`,
        {
          op: 'audit',
          subject: values.user,
          hint: 'Run igloo audit without --user to audit your own containers',
        },
      );
    const u = await lookupHostUser(values.user);
    owner = u;
    data = process.env.IGLOO_DATA_DIR ?? defaultDirsOf(u).data;
  }
  const findings = await runAudit({
    data,
    subid: subidPaths(),
    owner,
    probe: values.probe === true,
  });
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (values.json) printJson({ ok: errors === 0, owner: owner.name, data, findings });
  else if (findings.length === 0) {
    process.stdout.write(`${paint('green', 'ok')}  no findings for ${owner.name} (${data})\n`);
  } else {
    for (const f of findings) {
      const mark = f.severity === 'error' ? paint('red', 'ERROR') : paint('yellow', 'warn ');
      process.stdout.write(`${mark}  ${f.check}  ${f.message}\n`);
      process.stdout.write(`       why: ${f.why}\n       fix: ${f.fix}\n`);
    }
    process.stdout.write(
      `\n${findings.length} finding${findings.length === 1 ? '' : 's'} (${errors} error${errors === 1 ? '' : 's'})\n`,
    );
  }
  return errors ? 1 : 0;
}
