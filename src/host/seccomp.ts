/**
 * Reads the OCI seccomp profile a container's config names
 * (`igloo.seccomp = /path/profile.json`) so the pure plan can assemble it:
 * the config becomes a RunnableConfig, the only kind the planners take.
 * Read at every start and exec, as the caller, so an exec gets the filter
 * init got as long as the file is unchanged.
 */
import { readFile } from 'node:fs/promises';
import type { ContainerConfig } from '../core/config/model.ts';
import { runnableConfig, type RunnableConfig } from '../core/config/runnable.ts';
import { IglooError } from '../core/errors.ts';
import { sysError } from './errno.ts';

export async function loadSeccompProfile(config: ContainerConfig): Promise<RunnableConfig> {
  const s = config.seccomp;
  if (!s || s.profile === 'default' || s.profile === 'unconfined') return runnableConfig(config);
  let text: string;
  try {
    text = await readFile(s.profile, 'utf8');
  } catch (err) {
    throw sysError(
      err,
      'read the seccomp profile',
      s.profile,
      `Fix igloo.seccomp in the config of "${config.name}", or set it to default`,
    );
  }
  try {
    return runnableConfig(config, JSON.parse(text) as unknown);
  } catch (err) {
    throw new IglooError(
      'EINVAL',
      `Cannot read the seccomp profile ${s.profile}: it is not JSON (${err instanceof Error ? err.message : String(err)})`,
      {
        op: 'read the seccomp profile',
        path: s.profile,
        subject: config.name,
        hint: 'An OCI seccomp profile is a JSON object',
      },
    );
  }
}
