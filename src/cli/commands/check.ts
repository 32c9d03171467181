/** igloo check [--json]: the host doctor. */
import { runChecks } from '../../host/check.ts';
import type { check as checkSpec } from '../command-table.ts';
import { paint, printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

export async function check({ options: values }: Invocation<typeof checkSpec>): Promise<number> {
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
