-- wrk script: POST /v1/email/check, each request with the next key of the file
-- $UC_KEYS (one per line): distinct keys, so that no cache of unknown keys helps.
local path = os.getenv("UC_KEYS")
local reqs, n = {}, 0
init = function(args)
  local headers = { ["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    headers["Authorization"] = "Bearer " .. line
    reqs[#reqs + 1] = wrk.format("POST", "/v1/email/check", headers, '{"email": "a@gmail.com"}')
  end
end
request = function()
  n = n % #reqs + 1
  return reqs[n]
end
