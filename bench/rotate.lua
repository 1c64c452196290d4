-- wrk script for bench/run.sh's forward-auth case: every request carries the next session
-- cookie from a file (one Cookie header value per line), so 50 signed-in users rotate over the
-- few keep-alive connections as behind nginx auth_request or Envoy ext_authz.
-- Usage: wrk ... -s bench/rotate.lua URL -- COOKIE_FILE
--
-- The requests are formatted once, in init: request() only hands out the next one, so the
-- load generator spends its CPU on sending, not on building multi-KiB strings per request
-- (on a 2-CPU machine that CPU is taken from the system measured).
local requests = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format(nil, nil, { ["Cookie"] = line })
    end
  end
  if #requests == 0 then
    error("no cookie in " .. tostring(args[1]))
  end
  -- each wrk thread starts at a different user
  i = math.random(#requests) - 1
end

function request()
  i = i % #requests + 1
  return requests[i]
end
