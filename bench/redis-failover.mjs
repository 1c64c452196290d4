// Load through a front proxy while the Redis master dies: signs in USERS users (16 at a time),
// sends REQUESTS requests (32 in flight) rotating over their cookies, kills the master (SIGKILL
// to MASTER_PID) once half of them are sent, then checks every user once more. The upstream
// echoes X-Forwarded-Email, so every 200 is checked against the user whose cookie it carried.
// Prints one JSON object.
//
// Before that check it waits (at most 30 s) until the sentinel on SENTINEL_PORT names another
// master, and then 6 s more, past the replicas' 5 s session cache, so the check reads Redis.
//
// Usage: node bench/redis-failover.mjs FRONT_ORIGIN USERS REQUESTS MASTER_PID SENTINEL_PORT

import { execFile, execFileSync } from 'node:child_process';

import { signIn } from './login-lib.mjs';

const [front, usersArg, requestsArg, masterPid, sentinelPort] = process.argv.slice(2);
const USERS = Number(usersArg);
const REQUESTS = Number(requestsArg);
if (!front || !(USERS > 0) || !(REQUESTS > 0) || !(Number(masterPid) > 0) || !(Number(sentinelPort) > 0)) {
  process.stderr.write('usage: node bench/redis-failover.mjs FRONT_ORIGIN USERS REQUESTS MASTER_PID SENTINEL_PORT\n');
  process.exit(2);
}

async function pool(n, limit, work) {
  let next = 0;
  const workers = Array.from({ length: limit }, async () => {
    while (next < n) {
      const i = next;
      next += 1;
      await work(i);
    }
  });
  await Promise.all(workers);
}

const t0 = Date.now();
const users = new Array(USERS);
await pool(USERS, 16, async (i) => {
  const name = `user${i}`;
  users[i] = { email: `${name}@example.com`, cookie: await signIn(front, name) };
});
const signInSeconds = (Date.now() - t0) / 1000;

const tally = { ok: 0, wrongIdentity: 0, byStatus: {}, firstError: null, lastError: null };
let killedAt = null;
async function one(i) {
  const u = users[i % USERS];
  let status;
  let body = '';
  try {
    const r = await fetch(`${front}/`, { headers: { cookie: u.cookie, accept: 'application/json' }, redirect: 'manual' });
    status = r.status;
    body = (await r.text()).trim();
  } catch {
    status = 'network';
  }
  if (status === 200) {
    if (body === u.email) {
      tally.ok += 1;
    } else {
      tally.wrongIdentity += 1;
    }
    return;
  }
  tally.byStatus[status] = (tally.byStatus[status] || 0) + 1;
  const now = Date.now();
  tally.firstError ??= now;
  tally.lastError = now;
}
const masterAddr = () => execFileSync('redis-cli', ['-p', sentinelPort, 'SENTINEL', 'get-master-addr-by-name', 'mymaster']).toString().trim();
const originalMaster = masterAddr();
let promotedSeconds = null;
let watcher = null;
function watchPromotion() {
  // Asks the sentinel every 100 ms, without blocking the load.
  watcher = setInterval(() => {
    execFile('redis-cli', ['-p', sentinelPort, 'SENTINEL', 'get-master-addr-by-name', 'mymaster'], (err, out) => {
      if (!err && promotedSeconds === null && out.toString().trim() !== originalMaster) {
        promotedSeconds = (Date.now() - killedAt) / 1000;
      }
    });
  }, 100);
}
const t1 = Date.now();
await pool(REQUESTS, 32, async (i) => {
  if (i === Math.floor(REQUESTS / 2)) {
    process.kill(Number(masterPid), 'SIGKILL');
    killedAt = Date.now();
    watchPromotion();
  }
  await one(i);
});
const loadSeconds = (Date.now() - t1) / 1000;

for (let i = 0; i < 300 && promotedSeconds === null; i += 1) {
  await new Promise((r) => { setTimeout(r, 100); });
}
clearInterval(watcher);
await new Promise((r) => { setTimeout(r, 6000); });

let lost = 0;
await pool(USERS, 16, async (i) => {
  const r = await fetch(`${front}/`, { headers: { cookie: users[i].cookie, accept: 'application/json' }, redirect: 'manual' });
  if (r.status !== 200 || (await r.text()).trim() !== users[i].email) {
    lost += 1;
  }
});

process.stdout.write(`${JSON.stringify({
  users: USERS,
  requests: REQUESTS,
  signInSeconds,
  loadSeconds,
  ok: tally.ok,
  wrongIdentity: tally.wrongIdentity,
  errors: tally.byStatus,
  errorWindowSeconds: tally.firstError === null ? 0 : (tally.lastError - tally.firstError) / 1000,
  recoveredSecondsAfterKill: tally.lastError === null || tally.lastError < killedAt ? 0 : (tally.lastError - killedAt) / 1000,
  promotedSecondsAfterKill: promotedSeconds,
  sessionsLost: lost,
})}\n`);
