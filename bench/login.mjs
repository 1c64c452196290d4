// Signs in through authproxy and the test IdP (tests/idp/server.mjs) like a browser would, with
// no redirect followed automatically, and prints the session's Cookie header value on stdout.
//
// Usage: node bench/login.mjs PROXY_ORIGIN [USERNAME] [COOKIE_NAME]
//   e.g. node bench/login.mjs http://127.0.0.1:4180 bench _oauth2_proxy
// Exits non-zero with a message on stderr if any hop is not what the flow expects.

import { signIn } from './login-lib.mjs';

const [proxy, username = 'bench', cookieName = '_oauth2_proxy'] = process.argv.slice(2);
if (!proxy) {
  process.stderr.write('usage: node bench/login.mjs PROXY_ORIGIN [USERNAME] [COOKIE_NAME]\n');
  process.exit(2);
}
try {
  process.stdout.write(`${await signIn(proxy, username, cookieName)}\n`);
} catch (e) {
  process.stderr.write(`login.mjs: ${e.message}\n`);
  process.exit(1);
}
