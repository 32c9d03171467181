/**
 * igloo config NAME get KEY | set KEY=VALUE | edit (lifecycle/config-edit.ts):
 * get prints one value per line; edit runs $VISUAL or $EDITOR (default vi)
 * on a private copy, with the caller's terminal.
 */
import { spawn } from 'node:child_process';
import { IglooError } from '../../core/errors.ts';
import { Igloo } from '../../lifecycle/igloo.ts';
import type { config as configSpec } from '../command-table.ts';
import { printJson } from '../output.ts';
import type { Invocation } from '../spec.ts';

/** Runs the user's editor on PATH (a shell line, as git and crontab run $EDITOR). */
function runEditor(path: string): Promise<void> {
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `${editor} "$1"`, 'editor', path], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      reject(
        new IglooError(
          'ESYS',
          `The editor "${editor}" ${signal ? `was killed by ${signal}` : `exited ${code}`}: nothing was changed`,
          { op: 'config edit', path, hint: 'Set EDITOR (or VISUAL) to an editor that exits 0' },
        ),
      );
    });
  });
}

export async function config({
  options,
  args: { NAME: name, ACTION: action, ARG: arg },
}: Invocation<typeof configSpec>): Promise<number> {
  const igloo = new Igloo();
  const need = (what: string) => {
    if (arg === undefined)
      throw new IglooError('EINVAL', `igloo config ${name} ${action}: ${what} is missing`, {
        op: `config ${action}`,
        hint: `igloo config ${name} ${action} ${what}`,
      });
    return arg;
  };
  if (action === 'get') {
    const key = need('KEY');
    const values = await igloo.configGet(name, key);
    if (options.json) printJson({ name, key, values });
    else for (const v of values) process.stdout.write(`${v}\n`);
    return 0;
  }
  if (action === 'set') {
    const next = await igloo.configSet(name, need('KEY=VALUE'));
    if (options.json) printJson(next);
    else process.stdout.write(`Changed ${name}'s config (applies at the next start)\n`);
    return 0;
  }
  if (arg !== undefined)
    throw new IglooError('EINVAL', `igloo config ${name} edit takes no argument`, {
      op: 'config edit',
      subject: arg,
      hint: `igloo config ${name} edit`,
    });
  const { config: next, changed } = await igloo.configEdit(name, runEditor);
  if (options.json) printJson({ changed, config: next });
  else
    process.stdout.write(
      changed
        ? `Changed ${name}'s config (applies at the next start)\n`
        : `No change to ${name}'s config\n`,
    );
  return 0;
}
