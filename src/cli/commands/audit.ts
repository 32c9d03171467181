/** igloo audit [--json] [--probe] [--user NAME]: isolation problems, why and how to fix. */
import { iglooDirs } from '../../lifecycle/paths.ts';
import { defaultDirsOf } from '../../core/layout.ts';
import { IglooError } from '../../core/errors.ts';
import { visible } from '../../core/snapshot/format.ts';
import { runAudit } from '../../host/audit.ts';
import { subidPaths } from '../../host/subid.ts';
import { currentUser, lookupHostUser } from '../../host/users.ts';
import type { audit as auditSpec } from '../command-table.ts';
import { paint, printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function audit({ options: values }: Invocation<typeof auditSpec>): Promise<number> {
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
      // findings name users' files: control characters shown as "?"
      process.stdout.write(`${mark}  ${f.check}  ${visible(f.message)}\n`);
      process.stdout.write(`       why: ${visible(f.why)}\n       fix: ${visible(f.fix)}\n`);
    }
    process.stdout.write(
      `\n${findings.length} finding${findings.length === 1 ? '' : 's'} (${errors} error${errors === 1 ? '' : 's'})\n`,
    );
  }
  return errors ? 1 : 0;
}
