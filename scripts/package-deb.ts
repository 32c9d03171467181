// Builds the Debian package igloo_VERSION_ARCH.deb with dpkg-deb from a
// fresh build of this tree (the helper compiled here, for this machine's
// architecture): the bundle and helper in /usr/lib/igloo, `igloo` in
// /usr/bin, man pages written from the command tables, bash and zsh
// completion, and maintainer scripts that do only what a package may.
//   node --import tsx scripts/package-deb.ts [--out DIR]     (npm run package:deb)
// Prints the path of the package it made.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bashScript, zshScript } from '../src/cli/completion.ts';
import { manPages } from '../src/cli/man.ts';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  description: string;
  license: string;
};
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? process.argv[outArg + 1]! : root;
const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
// The date of the last commit, not of the build: the same tree makes the same pages.
const date = execFileSync('git', ['-C', root, 'log', '-1', '--format=%cs'], {
  encoding: 'utf8',
}).trim();
const maintainer = 'igloo maintainers <maintainers@igloo.invalid>';

const stage = mkdtempSync(join(tmpdir(), 'igloo-deb-'));
try {
  const lib = join(stage, 'usr/lib/igloo');
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], {
    env: { ...process.env, IGLOO_DIST: lib },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  // Source maps are for developers; the package carries the code only.
  for (const f of readdirSync(lib)) if (f.endsWith('.map')) rmSync(join(lib, f));
  execFileSync('strip', ['--strip-unneeded', join(lib, 'libexec/igloo-helper')]);

  const dirs = [
    'usr/bin',
    'usr/share/man/man1',
    'usr/share/doc/igloo',
    'usr/share/bash-completion/completions',
    'usr/share/zsh/vendor-completions',
    'usr/share/lintian/overrides',
    'DEBIAN',
  ];
  for (const d of dirs) mkdirSync(join(stage, d), { recursive: true });
  symlinkSync('../lib/igloo/libexec/igloo-helper', join(stage, 'usr/bin/igloo'));
  // igloo-runc: the OCI runtime (igloo oci), the same binary under the name engines point at;
  // its man page is igloo-oci's.
  symlinkSync('../lib/igloo/libexec/igloo-helper', join(stage, 'usr/bin/igloo-runc'));
  for (const [name, text] of manPages(date, pkg.version))
    writeFileSync(join(stage, 'usr/share/man/man1', `${name}.gz`), gzipSync(text, { level: 9 }));
  symlinkSync('igloo-oci.1.gz', join(stage, 'usr/share/man/man1/igloo-runc.1.gz'));
  writeFileSync(join(stage, 'usr/share/bash-completion/completions/igloo'), bashScript());
  writeFileSync(join(stage, 'usr/share/zsh/vendor-completions/_igloo'), zshScript());
  writeFileSync(join(stage, 'usr/share/doc/igloo/copyright'), copyright());
  writeFileSync(
    join(stage, 'usr/share/doc/igloo/changelog.gz'),
    gzipSync(changelog(), { level: 9 }),
  );
  writeFileSync(join(stage, 'usr/share/lintian/overrides/igloo'), overrides());

  const size = execFileSync('du', ['-sk', '--exclude=DEBIAN', stage], { encoding: 'utf8' }).split(
    '\t',
  )[0];
  writeFileSync(join(stage, 'DEBIAN/control'), control(Number(size)));
  for (const [name, text] of Object.entries(maintainerScripts())) {
    writeFileSync(join(stage, 'DEBIAN', name), text);
    chmodSync(join(stage, 'DEBIAN', name), 0o755);
  }
  chmodSync(stage, 0o755); // the package's ./ (mkdtemp made it 0700)
  normaliseModes(stage);
  mkdirSync(out, { recursive: true });
  const deb = join(out, `igloo_${pkg.version}_${arch}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.stdout.write(`${deb}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

/** Directories and programs 0755, everything else 0644, as Debian's tools expect. */
function normaliseModes(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) {
      chmodSync(path, 0o755);
      normaliseModes(path);
    } else chmodSync(path, statSync(path).mode & 0o111 ? 0o755 : 0o644);
  }
}

function control(installedSize: number): string {
  return `Package: igloo
Version: ${pkg.version}
Architecture: ${arch}
Maintainer: ${maintainer}
Installed-Size: ${installedSize}
Depends: nodejs (>= 20), uidmap, busybox-static, iproute2
Recommends: criu, debootstrap, debian-archive-keyring
Section: admin
Priority: optional
Homepage: https://github.com/igloo-containers/igloo
Description: ${pkg.description.toLowerCase()}
 igloo runs system containers (their own init as pid 1) and one-shot
 containers without root. An administrator delegates subordinate id ranges
 to users in /etc/subuid and /etc/subgid; every container gets its own slice
 of its owner's ids, so root inside is an unprivileged host id that no other
 container shares. igloo ps and igloo tree show which process runs in which
 namespace, as which id; containers can be checkpointed and moved with CRIU.
`;
}

function copyright(): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: igloo
Source: https://github.com/igloo-containers/igloo

Files: *
Copyright: 2026 igloo maintainers
License: ${pkg.license}
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
`;
}

function changelog(): string {
  const when = execFileSync('git', ['-C', root, 'log', '-1', '--format=%aD'], {
    encoding: 'utf8',
  }).trim();
  return `igloo (${pkg.version}) unstable; urgency=medium

  * Built from the igloo source tree (see its git history).

 -- ${maintainer}  ${when}
`;
}

/** Tags that are the design, each with why (lintian prints overrides it used). */
function overrides(): string {
  return `# The helper is static on purpose: it runs between clone() and exec in
# fresh namespaces, where no dynamic loader or library of the host may be
# trusted or even visible, and it is also the native front of /usr/bin/igloo.
igloo: statically-linked-binary [usr/lib/igloo/libexec/igloo-helper]
`;
}

/**
 * postinst: /dev/net/tun as Debian's udev rule makes it (0666, so users'
 * user-mode networking can open it; a tun device is useless without
 * CAP_NET_ADMIN in its namespace), and how to grant ids. Ids are never
 * granted by the package: that is the admin's decision. postrm purge leaves
 * containers and images (they are users' data) and says where they are.
 */
function maintainerScripts(): Record<string, string> {
  return {
    postinst: `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" = 600 ]; then
		chmod 0666 /dev/net/tun || true
	fi
	echo "igloo: give users ids with: igloo subid grant USER (then: igloo check, as that user)"
fi
exit 0
`,
    postrm: `#!/bin/sh
set -e
if [ "$1" = purge ]; then
	if [ -d /var/lib/igloo ]; then
		echo "igloo: root's containers and images are kept in /var/lib/igloo; users' in ~/.local/share/igloo"
	fi
fi
exit 0
`,
  };
}
