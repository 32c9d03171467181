/**
 * passwd(5) and group(5) text. Only the fields igloo needs: name, uid, gid,
 * home. Used on the host (who owns which /etc/subuid block) and inside a
 * container's rootfs (names for `igloo exec --user` and for `igloo ps`).
 */
import { IglooError } from './errors.ts';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

const ID = /^\d{1,10}$/;

/** Parses passwd text, skipping lines that are malformed (as glibc does). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || !ID.test(f[2] ?? '') || !ID.test(f[3] ?? '')) continue;
    out.push({
      name: f[0],
      uid: Number(f[2]),
      gid: Number(f[3]),
      home: f[5] ?? '',
      shell: f[6] ?? '',
    });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !f[0] || !ID.test(f[2] ?? '')) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

/**
 * Resolves "anna", "1001" or "1001:1001"-style user specs against passwd.
 * A numeric uid with no entry is allowed (containers often run such ids);
 * an unknown name is an error.
 */
export function resolveUser(
  spec: string,
  passwd: readonly PasswdEntry[],
  groups: readonly GroupEntry[] = [],
  where = '/etc/passwd',
): { uid: number; gid: number; name?: string } {
  const [userPart = '', groupPart] = spec.split(':', 2);
  let uid: number;
  let gid: number;
  let name: string | undefined;
  if (ID.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd.find((p) => p.uid === uid);
    gid = entry?.gid ?? uid;
    name = entry?.name;
  } else {
    const entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new IglooError('ENOENT', `Cannot find user "${userPart}" in ${where}`, {
        op: 'resolve user',
        subject: userPart,
        hint: 'Give a numeric uid, or add the user to that file',
      });
    }
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  }
  if (groupPart !== undefined) {
    if (ID.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) {
        throw new IglooError('ENOENT', `Cannot find group "${groupPart}"`, {
          op: 'resolve user',
          subject: groupPart,
          hint: 'Give a numeric gid, or add the group to /etc/group',
        });
      }
      gid = g.gid;
    }
  }
  return name === undefined ? { uid, gid } : { uid, gid, name };
}
