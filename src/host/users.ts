/** The host's users, from /etc/passwd (no NSS: igloo reads the files). */
import { IglooError } from '../core/errors.ts';
import { parsePasswd, type PasswdEntry } from '../core/passwd.ts';
import { readTextOrEmpty } from './files.ts';

export const PASSWD_PATH = '/etc/passwd';

export async function readPasswd(path = PASSWD_PATH): Promise<PasswdEntry[]> {
  return parsePasswd(await readTextOrEmpty(path));
}

/** Finds a host user by name or numeric uid; an unknown user is an error. */
export async function lookupHostUser(nameOrUid: string): Promise<PasswdEntry> {
  const users = await readPasswd();
  const found = /^\d+$/.test(nameOrUid)
    ? users.find((u) => u.uid === Number(nameOrUid))
    : users.find((u) => u.name === nameOrUid);
  if (!found) {
    throw new IglooError('ENOENT', `Cannot find user "${nameOrUid}" in ${PASSWD_PATH}`, {
      op: 'look up user',
      path: PASSWD_PATH,
      subject: nameOrUid,
      hint: 'Create the user first (useradd), or check the spelling',
    });
  }
  return found;
}

/** The user running igloo, with a fallback name when it has no passwd entry. */
export async function currentUser(): Promise<{
  name: string;
  uid: number;
  gid: number;
  home: string;
}> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const entry = (await readPasswd()).find((u) => u.uid === uid);
  return {
    name: entry?.name ?? String(uid),
    uid,
    gid,
    home: entry?.home ?? process.env.HOME ?? '/',
  };
}
