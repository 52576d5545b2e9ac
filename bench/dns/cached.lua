-- wrk script: POST /v1/email/check for domains whose MX answers are cached
-- (bench/dns/run.py warms them first), no ip. Env: UC_KEY.
local key = os.getenv("UC_KEY") or "none"
local domains = { "alpha", "bravo", "charlie", "delta", "echo" }
local reqs = {}
local n = 0
init = function(args)
  local headers = { ["Host"] = wrk.headers["Host"], ["Authorization"] = "Bearer " .. key,
                    ["Content-Type"] = "application/json" }
  for i = 1, 500 do
    local d = domains[(i % #domains) + 1]
    reqs[i] = wrk.format("POST", "/v1/email/check", headers,
                         '{"email": "user' .. i .. '@' .. d .. '.benchzone.net"}')
  end
end
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
