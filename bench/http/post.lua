-- wrk script: POST /v1/email/check with a rotating, realistic mix of addresses.
-- Env: UC_KEY (the API key). The same requests go to every server in the run.
local key = os.getenv("UC_KEY") or "none"
local emails = {
  "jane.doe@gmail.com", "someone@mailinator.com", "me@privaterelay.appleid.com",
  "john+news@gmail.com", "x.y@outlook.com", "bob@guerrillamail.com", "alice@acme-corp.com",
  "kim@yahoo.com", "temp123@10minutemail.com", "li.wei@qq.com", "sam@gmial.com",
  "noah@startup.io", "m@duck.com", "ops@example.org", "jörg@bücher.de", "a.b.c.d.e@corp.net",
}
local reqs = {}
-- built in init(): only then does wrk know the Host header to send
init = function(args)
  for i, e in ipairs(emails) do
    local body = '{"email": "' .. e .. '", "ip": "203.0.113.' .. i .. '"}'
    reqs[i] = wrk.format("POST", "/v1/email/check",
      { ["Host"] = wrk.headers["Host"], ["Authorization"] = "Bearer " .. key,
        ["Content-Type"] = "application/json" }, body)
  end
end
local n = 0
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
