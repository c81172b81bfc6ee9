// `User` ("name", "uid", "name:group", "uid:gid") resolved through the image's /etc/passwd and /etc/group, as
// Docker does (moby/sys/user): numeric ids need no entry, names must exist, supplementary groups come from
// /etc/group membership. Pure: the caller reads the files.
import { invalidParameter } from '../errdefs';

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' }));
}

function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3)
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

const isId = (s: string) => /^\d+$/.test(s);

export function resolveUser(
  spec: string,
  passwdText: string | undefined,
  groupText: string | undefined,
  groupAdd: string[] = [],
): ProcessUser {
  const passwd = parsePasswd(passwdText ?? '');
  const groups = parseGroup(groupText ?? '');
  const [userPart, groupPart] = spec === '' ? ['', undefined] : spec.split(':', 2);
  let uid = 0;
  let gid = 0;
  let home = '/';
  let name: string | undefined;
  const u =
    userPart === ''
      ? (passwd.find((p) => p.uid === 0) ?? { name: 'root', uid: 0, gid: 0, home: '/root' })
      : isId(userPart)
        ? passwd.find((p) => p.uid === Number(userPart))
        : passwd.find((p) => p.name === userPart);
  if (u) {
    uid = u.uid;
    gid = u.gid;
    home = u.home || '/';
    name = u.name;
  } else if (isId(userPart)) {
    uid = Number(userPart);
  } else {
    throw invalidParameter(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = isId(groupPart)
      ? groups.find((x) => x.gid === Number(groupPart))
      : groups.find((x) => x.name === groupPart);
    if (g) gid = g.gid;
    else if (isId(groupPart)) gid = Number(groupPart);
    else throw invalidParameter(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  const additional = new Set<number>();
  // Supplementary groups from membership only when the group was not forced, like Docker.
  if (name && (groupPart === undefined || groupPart === '')) {
    for (const g of groups) if (g.members.includes(name) && g.gid !== gid) additional.add(g.gid);
  }
  for (const a of groupAdd) {
    const g = isId(a) ? { gid: Number(a) } : groups.find((x) => x.name === a);
    if (!g) throw invalidParameter(`unable to find group ${a}: no matching entries in group file`);
    additional.add(g.gid);
  }
  return { uid, gid, additionalGids: [...additional], home };
}
