-- POST each line of lines=<file> as a JSON body, in order; with count=N each is sent once (the
-- verify scenario: one body a line, and a code works once).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local bench = require("common")

function init(args)
  local opts = bench.args(args)
  local headers = { ["Content-Type"] = "application/json" }
  local requests = {}
  for _, line in ipairs(bench.read_lines(opts.lines)) do
    requests[#requests + 1] = wrk.format("POST", nil, headers, line)
  end
  bench.run(opts, function(i) return requests[(i - 1) % #requests + 1] end)
end
