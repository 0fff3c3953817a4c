-- wrk script of tests/bench/bench.py: `GET /` with `authorization: Bearer <token>`,
-- each request taking the next token of the file named after `--` (one a line) and
-- starting over at its end; a second argument, when given, is the requests' `Host`
-- (the exchange's destination), else wrk's own (127.0.0.1:port). Requests are
-- formatted once, in init(), so request() costs a table lookup; a file of one token
-- gives the "one token repeated" load through the same code path as the 1000-token one.
local requests = {}
local count = 0
local last = 0

function init(args)
  local path = args[1]
  local host = args[2]
  if path == nil then
    error("requests.lua: pass the token file after --")
  end
  for token in io.lines(path) do
    if token ~= "" then
      count = count + 1
      local headers = { ["authorization"] = "Bearer " .. token }
      if host ~= nil and host ~= "" then
        headers["Host"] = host
      end
      requests[count] = wrk.format("GET", "/", headers)
    end
  end
  if count == 0 then
    error("requests.lua: no tokens in " .. path)
  end
end

function request()
  last = last % count + 1
  return requests[last]
end
