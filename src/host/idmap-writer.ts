/**
 * Installs a child's uid_map and gid_map. Root writes /proc/PID/{uid,gid}_map
 * itself; everyone else goes through the host's setuid newuidmap/newgidmap,
 * which check the maps against /etc/subuid and /etc/subgid, exactly as LXC
 * and podman do. igloo is never setuid.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { IglooError } from '../core/errors.ts';
import { formatProcIdMap, type IdMapEntry, type IdMaps } from '../core/idmap/index.ts';
import { sysError } from './errno.ts';

function runTool(tool: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT') {
        return reject(
          new IglooError('EHOST', `Cannot map ids: ${tool} is not installed`, {
            op: 'map ids',
            subject: tool,
            hint: 'apt-get install uidmap',
          }),
        );
      }
      const kind = tool === 'newuidmap' ? 'uid' : 'gid';
      reject(
        new IglooError(
          'ENOTDELEGATED',
          `Cannot map ids with ${tool} ${args.join(' ')}: ${stderr.trim() || err.message}`,
          {
            op: 'map ids',
            subject: args.slice(1).join(' '),
            hint: `The map must use only ids delegated to you in /etc/sub${kind} (see igloo subid ls)`,
          },
        ),
      );
    });
  });
}

const toolArgs = (pid: number, map: readonly IdMapEntry[]) => [
  String(pid),
  ...map.flatMap((e) => [String(e.inside), String(e.outside), String(e.count)]),
];

export async function writeIdMaps(pid: number, maps: IdMaps): Promise<void> {
  if ((process.geteuid?.() ?? 0) === 0) {
    for (const kind of ['uid', 'gid'] as const) {
      const path = `/proc/${pid}/${kind}_map`;
      try {
        await writeFile(path, formatProcIdMap(maps[kind]));
      } catch (err) {
        throw sysError(
          err,
          'write',
          path,
          'The kernel refused the map: check that no two entries overlap',
        );
      }
    }
    return;
  }
  // The two files are independent: map both at once (about 10 ms saved).
  await Promise.all([
    runTool('newuidmap', toolArgs(pid, maps.uid)),
    runTool('newgidmap', toolArgs(pid, maps.gid)),
  ]);
}
