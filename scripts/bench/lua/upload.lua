-- POST a multipart creative: a JPEG signature followed by filler up to bytes=<n> (the API judges
-- the type by the first bytes only; the scheduler, not running here, would decode it), with
-- scheduled_on=<date> and a Bearer token=<access token>.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local bench = require("common")

function init(args)
  local opts = bench.args(args)
  local boundary = "cheershare-bench-" .. tostring(bench.now_ms()):gsub("%.", "")
  local size = tonumber(opts.bytes)
  local jpeg = "\255\216\255\224"
  local body = table.concat({
    "--" .. boundary,
    'Content-Disposition: form-data; name="scheduled_on"',
    "",
    opts.date,
    "--" .. boundary,
    'Content-Disposition: form-data; name="file"; filename="bench.jpg"',
    "Content-Type: image/jpeg",
    "",
    jpeg .. string.rep("\0", size - #jpeg),
    "--" .. boundary .. "--",
    "",
  }, "\r\n")
  local headers = { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }
  if opts.token then headers.Authorization = "Bearer " .. opts.token end
  local req = wrk.format("POST", nil, headers, body)
  bench.run(opts, function() return req end)
end
