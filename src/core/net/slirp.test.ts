import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostfwdMessages, slirpArgv, SLIRP_RESOLV_CONF } from './slirp.ts';
import { parsePortForward } from './spec.ts';

test('slirpArgv() refuses host loopback unless asked, names no pid', () => {
  const argv = slirpArgv({ binary: '/usr/bin/slirp4netns', hostLoopback: false, sandbox: true });
  assert.equal(argv[0], '/usr/bin/slirp4netns');
  assert.ok(argv.includes('--disable-host-loopback'));
  assert.ok(argv.includes('--enable-sandbox') && argv.includes('--enable-seccomp'));
  assert.deepEqual(argv.slice(-2), ['/proc/self/fd/4', 'eth0']);
  // its short-lived child joins the userns through fd 5; the process that stays does not
  assert.ok(argv.includes('--userns-path=/proc/self/fd/5'));
  assert.ok(!argv.some((a) => a.startsWith('--api-socket')));
  const open = slirpArgv({
    binary: '/usr/bin/slirp4netns',
    hostLoopback: true,
    apiSocket: '/run/x/slirp.sock',
    sandbox: false,
  });
  assert.ok(!open.includes('--disable-host-loopback'));
  assert.ok(!open.includes('--enable-sandbox'));
  assert.ok(open.includes('--enable-seccomp'));
  assert.ok(open.includes('--api-socket=/run/x/slirp.sock'));
});

test('hostfwdMessages() sends one add_hostfwd per port', () => {
  const msgs = hostfwdMessages([parsePortForward('0.0.0.0:8080-8081:80-81/udp')]).map((m) =>
    JSON.parse(m),
  );
  assert.deepEqual(msgs, [
    {
      execute: 'add_hostfwd',
      arguments: {
        proto: 'udp',
        host_addr: '0.0.0.0',
        host_port: 8080,
        guest_addr: '10.0.2.100',
        guest_port: 80,
      },
    },
    {
      execute: 'add_hostfwd',
      arguments: {
        proto: 'udp',
        host_addr: '0.0.0.0',
        host_port: 8081,
        guest_addr: '10.0.2.100',
        guest_port: 81,
      },
    },
  ]);
});

test('the resolv.conf names slirp4netns DNS', () => {
  assert.match(SLIRP_RESOLV_CONF, /^nameserver 10\.0\.2\.3$/m);
});
