-- wrk script: POST /v1/email/check, black, each request from a fresh IPv6 /64
-- (random, seeded per thread): the attacker rotating /64s of issue 15.
-- $UC_KEY is the check key.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(id * 7919 + os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("UC_KEY")
end
request = function()
  return wrk.format(nil, nil, nil, string.format(
    '{"email":"x@mailinator.com","ip":"2001:db8:%x:%x::1"}', math.random(0, 65535),
    math.random(0, 65535)))
end
