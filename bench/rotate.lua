-- wrk script for bench/run.sh's forward-auth case: every request carries the next session
-- cookie from a file (one Cookie header value per line), so 50 signed-in users rotate over the
-- few keep-alive connections as behind nginx auth_request or Envoy ext_authz.
-- Usage: wrk ... -s bench/rotate.lua URL -- COOKIE_FILE
local cookies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      cookies[#cookies + 1] = line
    end
  end
  if #cookies == 0 then
    error("no cookie in " .. tostring(args[1]))
  end
  -- each wrk thread starts at a different user
  i = math.random(#cookies) - 1
end

function request()
  i = i % #cookies + 1
  return wrk.format(nil, nil, { ["Cookie"] = cookies[i] })
end
