-- wrk script: POST /v1/email/check with a rotating, realistic mix of addresses,
-- each from one of 65,521 client IPs (a prime, so every IP sees every address).
-- The same requests go to every server in the run. Env: UC_KEY (the API key).
local key = os.getenv("UC_KEY") or "none"
local emails = {
  "jane.doe@gmail.com", "someone@mailinator.com", "me@privaterelay.appleid.com",
  "john+news@gmail.com", "x.y@outlook.com", "bob@guerrillamail.com", "alice@acme-corp.com",
  "kim@yahoo.com", "temp123@10minutemail.com", "li.wei@qq.com", "sam@gmial.com",
  "noah@startup.io", "m@duck.com", "ops@example.org", "jörg@bücher.de", "a.b.c.d.e@corp.net",
}
local headers
local n = 0
-- built in init(): only then does wrk know the Host header to send
init = function(args)
  headers = { ["Host"] = wrk.headers["Host"], ["Authorization"] = "Bearer " .. key,
              ["Content-Type"] = "application/json" }
end
request = function()
  n = n + 1
  local ip = n % 65521
  local body = '{"email": "' .. emails[(n % #emails) + 1] .. '", "ip": "10.' ..
    math.floor(ip / 256) % 256 .. '.' .. ip % 256 .. '.7"}'
  return wrk.format("POST", "/v1/email/check", headers, body)
end
