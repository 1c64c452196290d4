// Signs in N users (PREFIX1 … PREFIXN) through a proxy and the test IdP, a few at a time, and
// prints their session Cookie header values, one per line, in user order. Used by bench/run.sh's
// forward-auth case (authproxy and oauth2-proxy alike: both serve /oauth2/start and
// /oauth2/callback, and both answer 200 on / with the session).
//
// Usage: node bench/login-many.mjs PROXY_ORIGIN N [PREFIX] [COOKIE_NAME]
import { signIn } from './login-lib.mjs';

const [proxy, n, prefix = 'user', cookieName = '_oauth2_proxy'] = process.argv.slice(2);
const count = Number.parseInt(n || '', 10);
if (!proxy || !(count > 0)) {
  process.stderr.write('usage: node bench/login-many.mjs PROXY_ORIGIN N [PREFIX] [COOKIE_NAME]\n');
  process.exit(2);
}
const cookies = new Array(count);
let next = 0;
async function worker() {
  while (next < count) {
    const i = next;
    next += 1;
    cookies[i] = await signIn(proxy, `${prefix}${i + 1}`, cookieName);
  }
}
try {
  await Promise.all(Array.from({ length: Math.min(5, count) }, worker));
  process.stdout.write(`${cookies.join('\n')}\n`);
} catch (e) {
  process.stderr.write(`login-many.mjs: ${e.message}\n`);
  process.exit(1);
}
