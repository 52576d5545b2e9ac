-- wrk script: POST /v1/email/check with a rotating, realistic mix of addresses,
-- each from one of 16,381 client IPs (a prime, so every IP sees every address).
-- Requests are built once in init() so the client spends its time sending.
-- The same requests go to every server in the run. Env: UC_KEY (the API key),
-- UC_MIX: "realistic" (default), "white" (white answers only) or "black"
-- (black-heavy: 12 of 16 addresses are disposable).
local key = os.getenv("UC_KEY") or "none"
local mixes = {
  realistic = {
    "jane.doe@gmail.com", "someone@mailinator.com", "me@privaterelay.appleid.com",
    "john+news@gmail.com", "x.y@outlook.com", "bob@guerrillamail.com", "alice@acme-corp.com",
    "kim@yahoo.com", "temp123@10minutemail.com", "li.wei@qq.com", "sam@gmial.com",
    "noah@startup.io", "m@duck.com", "ops@example.org", "jörg@bücher.de", "a.b.c.d.e@corp.net",
  },
  white = {
    "jane.doe@gmail.com", "x.y@outlook.com", "alice@acme-corp.com", "kim@yahoo.com",
    "li.wei@qq.com", "noah@startup.io", "ops@example.org", "a.b@corp.net",
  },
  black = {
    "someone@mailinator.com", "bob@guerrillamail.com", "temp123@10minutemail.com",
    "x@yopmail.com", "y@trashmail.com", "z@sharklasers.com", "jane.doe@gmail.com",
    "q@mailinator.com", "r@guerrillamail.com", "s@10minutemail.com", "kim@yahoo.com",
    "t@yopmail.com", "u@trashmail.com", "v@sharklasers.com", "noah@startup.io", "w@maildrop.cc",
  },
}
local emails = mixes[os.getenv("UC_MIX") or "realistic"] or mixes.realistic
local reqs = {}
local n = 0
local IPS = 16381
-- built in init(): only then does wrk know the Host header to send
init = function(args)
  local headers = { ["Host"] = wrk.headers["Host"], ["Authorization"] = "Bearer " .. key,
                    ["Content-Type"] = "application/json" }
  for i = 0, #emails * IPS - 1 do
    local ip = i % IPS
    local body = '{"email": "' .. emails[(i % #emails) + 1] .. '", "ip": "10.' ..
      math.floor(ip / 256) % 256 .. '.' .. ip % 256 .. '.7"}'
    reqs[i + 1] = wrk.format("POST", "/v1/email/check", headers, body)
  end
end
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
