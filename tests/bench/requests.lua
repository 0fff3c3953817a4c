-- wrk script of tests/bench/bench.py: `GET /`, each request taking the next line of
-- the file named after `--` and starting over at its end. A line `TOKEN` is sent as
-- `authorization: Bearer TOKEN`; a line `TOKEN PROOF` as `authorization: DPoP TOKEN`
-- with `dpop: PROOF`. A second argument, when not empty, is the requests' `Host`
-- (the exchange's destination), else wrk's own (127.0.0.1:port). A third, `once`,
-- sends each line at most once, then requests without credentials until wrk
-- ends (a file of distinct DPoP proofs, whose replays would be refused). wrk asks
-- for one request it never sends: with `once`, the first line is not sent (the
-- bench writes one line more). Requests are formatted once, in init(), so
-- request() costs a table lookup; a file of one token gives the "one token
-- repeated" load through the same code path as the 1000-token one.
local requests = {}
local count = 0
local last = 0
local once = false
local bare = nil

function init(args)
  local path = args[1]
  local host = args[2]
  once = args[3] == "once"
  if host ~= nil and host ~= "" then
    bare = wrk.format("GET", "/", { ["Host"] = host })
  else
    bare = wrk.format("GET", "/")
  end
  if path == nil then
    error("requests.lua: pass the token file after --")
  end
  for line in io.lines(path) do
    if line ~= "" then
      count = count + 1
      local token, proof = line:match("^(%S+) (%S+)$")
      local headers
      if token then
        headers = { ["authorization"] = "DPoP " .. token, ["dpop"] = proof }
      else
        headers = { ["authorization"] = "Bearer " .. line }
      end
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
  if once and last >= count then
    return bare
  end
  last = last % count + 1
  return requests[last]
end
