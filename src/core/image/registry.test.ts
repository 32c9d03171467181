import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { registryFailure, skopeoMessage } from './registry.ts';

// Lines as skopeo 1.9 writes them.
const unknown =
  'time="2026-12-03T16:15:43Z" level=fatal msg="initializing source docker://127.0.0.1:5123/test/nope:1: reading manifest 1 in 127.0.0.1:5123/test/nope: manifest unknown: manifest unknown"\n';
const https =
  'time="2026-12-03T16:15:43Z" level=fatal msg="initializing source docker://127.0.0.1:5123/test/app:1: pinging container registry 127.0.0.1:5123: Get \\"https://127.0.0.1:5123/v2/\\": http: server gave HTTP response to HTTPS client"\n';

describe('skopeo failures', () => {
  test("skopeoMessage(): the fatal line's msg, unquoted; else the last line", () => {
    assert.match(skopeoMessage(unknown), /^initializing source .*manifest unknown$/);
    assert.match(skopeoMessage(https), /Get "https:\/\/127\.0\.0\.1:5123\/v2\/": http: server/);
    assert.equal(skopeoMessage('Getting image source signatures\nError: boom\n\n'), 'Error: boom');
    assert.equal(skopeoMessage(''), 'skopeo failed without a message');
  });
  test('registryFailure(): an errno-like code and what to do', () => {
    assert.equal(registryFailure(unknown, 'r', 'pull').code, 'ENOENT');
    assert.match(registryFailure(unknown, 'r', 'pull').hint, /has no image r/);
    assert.equal(registryFailure(https, 'r', 'pull').code, 'EHOST');
    assert.match(registryFailure(https, 'r', 'pull').hint, /--tls-verify=false/);
    const refused =
      'msg="pinging container registry 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"';
    assert.match(registryFailure(refused, 'r', 'push').hint, /cannot be reached/);
    const auth =
      'msg="writing blob: initiating layer upload: unauthorized: authentication required"';
    assert.equal(registryFailure(auth, 'r', 'push').code, 'EPERM');
    assert.match(registryFailure('msg="weird"', 'r', 'push').hint, /could not push r/);
    const authFile =
      'msg="initializing source docker://h/a:1: getting username and password: 1 error occurred: reading JSON file \\"/run/containers/1004/auth.json\\": open /run/containers/1004/auth.json: permission denied"';
    assert.match(registryFailure(authFile, 'r', 'pull').hint, /your registry logins/);
  });
});
