-- GET the URL's path; with tokens=<file> (one access token a line), each request carries the
-- next token as a Bearer credential, cycling.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local bench = require("common")

function init(args)
  local opts = bench.args(args)
  local requests = {}
  if opts.tokens then
    for _, token in ipairs(bench.read_lines(opts.tokens)) do
      requests[#requests + 1] = wrk.format("GET", nil, { Authorization = "Bearer " .. token })
    end
  else
    requests[1] = wrk.format("GET")
  end
  bench.run(opts, function(i) return requests[(i - 1) % #requests + 1] end)
end
