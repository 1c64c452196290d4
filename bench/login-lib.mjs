// Signs in through authproxy and the test IdP (tests/idp/server.mjs) like a browser would, with
// no redirect followed automatically. Used by bench/login.mjs (one sign-in, from the shell) and
// bench/redis-failover.mjs (many users at once).

export class LoginError extends Error {}

function fail(message) {
  throw new LoginError(message);
}

/// Resolves to the session's Cookie header value; rejects with a LoginError naming the hop
/// that is not what the flow expects.
export async function signIn(proxy, username = 'bench', cookieName = '_oauth2_proxy') {
  // One jar for every origin: cookies ignore ports, and everything here is on 127.0.0.1.
  const jar = new Map();

  function remember(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const deleted = attrs.some((a) => {
        const [k, v = ''] = a.trim().split('=');
        const key = k.toLowerCase();
        return (key === 'max-age' && Number(v) <= 0)
          || (key === 'expires' && Date.parse(v) <= Date.now());
      });
      if (deleted) {
        jar.delete(name);
      } else {
        jar.set(name, value);
      }
    }
  }

  function cookieHeader(filter = () => true) {
    return [...jar].filter(([name]) => filter(name)).map(([n, v]) => `${n}=${v}`).join('; ');
  }

  async function request(url, options = {}) {
    const headers = { ...(options.headers || {}) };
    const cookie = cookieHeader();
    if (cookie) {
      headers.cookie = cookie;
    }
    const response = await fetch(url, { ...options, headers, redirect: 'manual' });
    remember(response);
    return response;
  }

  function locationOf(response, base) {
    const location = response.headers.get('location');
    if (!location) {
      fail(`${response.status} from ${base} has no Location`);
    }
    return new URL(location, base).toString();
  }

  function attr(tag, name) {
    const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`, 'i'));
    return m ? m[1].replaceAll('&amp;', '&') : undefined;
  }

  function form(html, id) {
    const m = html.match(new RegExp(`<form[^>]*id="${id}"[^>]*>([\\s\\S]*?)</form>`, 'i'));
    if (!m) {
      return undefined;
    }
    const fields = new URLSearchParams();
    for (const input of m[1].match(/<input[^>]*>/gi) || []) {
      const name = attr(input, 'name');
      if (name) {
        fields.set(name, attr(input, 'value') || '');
      }
    }
    return { action: attr(m[0], 'action'), fields };
  }

  const start = await request(`${proxy}/oauth2/start?rd=%2F`);
  if (start.status !== 302) {
    fail(`/oauth2/start answered ${start.status}, expected 302`);
  }
  let next = locationOf(start, proxy);
  const idpOrigin = new URL(next).origin;

  for (let hop = 0; new URL(next).origin === idpOrigin; hop += 1) {
    if (hop > 12) {
      fail('the IdP flow did not finish within 12 hops');
    }
    const response = await request(next);
    if (response.status === 302 || response.status === 303) {
      next = locationOf(response, next);
      continue;
    }
    const html = await response.text();
    if (response.status !== 200) {
      fail(`IdP page ${next} answered ${response.status}: ${html}`);
    }
    const login = form(html, 'login');
    const consent = form(html, 'consent');
    const chosen = login || consent;
    if (!chosen) {
      fail(`no login or consent form at ${next}`);
    }
    if (login) {
      login.fields.set('login', username);
      login.fields.set('password', 'unused');
    }
    const action = new URL(chosen.action, next).toString();
    const posted = await request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: chosen.fields.toString(),
    });
    if (posted.status !== 302 && posted.status !== 303) {
      fail(`IdP form ${action} answered ${posted.status}`);
    }
    next = locationOf(posted, action);
  }

  if (!next.startsWith(`${proxy}/oauth2/callback`)) {
    fail(`the IdP sent the browser to ${next}, not the proxy callback`);
  }
  const callback = await request(next);
  if (callback.status !== 302) {
    fail(`callback answered ${callback.status}: ${await callback.text()}`);
  }
  const isSession = (name) => name === cookieName || new RegExp(`^${cookieName}_\\d+$`).test(name);
  const session = cookieHeader(isSession);
  if (!session) {
    fail('the callback set no session cookie');
  }
  const check = await fetch(`${proxy}/`, { headers: { cookie: session }, redirect: 'manual' });
  if (check.status !== 200) {
    fail(`a request with the session cookie answered ${check.status}, expected 200`);
  }
  return session;
}
