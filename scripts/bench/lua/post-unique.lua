-- POST {"email": ...} with an address never used before: prefix=<run-unique tag>, then the
-- thread and a counter. Both the code request and the baselines' /echo get these bodies.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local bench = require("common")

function init(args)
  local opts = bench.args(args)
  local headers = { ["Content-Type"] = "application/json" }
  local stem = string.format("%s-%d-", opts.prefix, bench_thread or 1)
  bench.run(opts, function(i)
    return wrk.format("POST", nil, headers, '{"email":"' .. stem .. i .. '@example.test"}')
  end)
end
