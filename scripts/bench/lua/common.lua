-- Shared by the bench scripts (wrk 4, LuaJIT). Each script builds requests in init() and hands
-- them to bench.run(), which gives every load the same two modes and the same output:
--   timed (count=0): wrk's own fixed duration, requests built per call.
--   count=N: exactly N requests as fast as the connections allow, each sent once (a code can be
--            verified once only), timed from the first request to the last response. wrk itself
--            always sleeps for its whole -d, so the last response prints a marker line and the
--            harness interrupts wrk, which then calls done().
-- done() prints one line: "bench-result " followed by JSON (latencies in ms).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]

local bench = {}
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

function bench.now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

-- init() gets wrk's arguments after "--" from index 0 (the URL first); ours are key=value.
function bench.args(list)
  local out, i = {}, 0
  while list[i] ~= nil do
    local k, v = list[i]:match("^([%w_]+)=(.*)$")
    if k then out[k] = v end
    i = i + 1
  end
  return out
end

function bench.read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return lines
end

-- Globals read by done() through thread:get (only globals cross between wrk's Lua states).
bench_count, bench_answered, bench_ok, bench_bad = 0, 0, 0, 0
bench_first, bench_last = nil, nil
bench_statuses = {}

-- make(i) returns the i-th request (1-based).
function bench.run(opts, make)
  bench_count = tonumber(opts.count or "0")
  if bench_count == 0 then
    local i = 0
    request = function()
      i = i + 1
      return make(i)
    end
    return
  end

  -- wrk calls request() once before the run to check the request's syntax: answer it without
  -- using up a request. Count mode runs one thread, so this applies to the only state there is.
  local checked, issued, reserved = false, 0, 0
  request = function()
    if not checked then
      checked = true
      return make(1)
    end
    issued = issued + 1
    if issued == 1 then bench_first = bench.now_ms() end
    return make(issued)
  end
  -- Called before every request: the first N go at once, the rest park until the thread stops.
  delay = function()
    if reserved < bench_count then
      reserved = reserved + 1
      return 0
    end
    return 3600 * 1000
  end
  response = function(status)
    bench_answered = bench_answered + 1
    if status >= 200 and status < 300 then
      bench_ok = bench_ok + 1
    else
      bench_bad = bench_bad + 1
      bench_statuses[tostring(status)] = (bench_statuses[tostring(status)] or 0) + 1
    end
    if bench_answered == bench_count then
      bench_last = bench.now_ms()
      wrk.thread:stop()
      io.write("wrk-bench: finished\n")
      io.flush()
    end
  end
end

-- Setup and done() run in wrk's main Lua state, apart from the threads' states.
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("bench_thread", #threads)
end

local function json_object(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency)
  local count, answered, ok, bad, first, last, statuses = 0, 0, 0, 0, nil, nil, {}
  for _, t in ipairs(threads) do
    count = count + t:get("bench_count")
    answered = answered + t:get("bench_answered")
    ok = ok + t:get("bench_ok")
    bad = bad + t:get("bench_bad")
    local f, l = t:get("bench_first"), t:get("bench_last")
    if f and (not first or f < first) then first = f end
    if l and (not last or l > last) then last = l end
    for k, v in pairs(t:get("bench_statuses")) do statuses[k] = (statuses[k] or 0) + v end
  end
  local duration_ms = summary.duration / 1000
  if count > 0 and first and last then duration_ms = last - first end
  local e = summary.errors
  local ms = function(us) return us / 1000 end
  io.write(string.format(
    'bench-result {"requests":%d,"durationMs":%.3f,"count":%d,"answered":%d,"ok":%d,"bad":%d,"statuses":%s,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latencyMs":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f}}\n',
    summary.requests, duration_ms, count, answered, ok, bad, json_object(statuses),
    e.connect, e.read, e.write, e.timeout, e.status,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)), ms(latency.max), ms(latency.mean)))
  io.flush()
end

return bench
