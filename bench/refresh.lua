-- W4 for wrk: refresh with rotation. Each thread holds a pool of refresh tokens; request() takes
-- the oldest and posts grant_type=refresh_token (HTTP Basic), response() takes the rotated
-- successor out of the JSON answer and puts it back at the end (a queue: every token is used in
-- turn, none idles for the whole run). A token whose answer is not 200 (or never came: a socket
-- error, or still in flight when the run ended) leaves the pool for good; so does the one token
-- wrk's own check of request() takes from the first thread before the run starts.
--
-- Environment:
--   POOL_IN   file with the refresh tokens, one a line (dealt round-robin to the threads)
--   WRK_THREADS  the -t given to wrk
--   POOL_OUT  file the tokens left in the pools are written to at the end, one a line
--   WRK_AUTH  the Authorization header (Basic ...)
-- Prints one RESULT line like the harness's, plus non200 (answers that were not 200),
-- empty (requests sent while the thread's pool was empty, with a token nobody holds) and
-- pooled (tokens left in the pools).

local threads = {}
local tokens = {}

for line in io.lines(os.getenv("POOL_IN")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
-- wrk runs setup(thread) in its main Lua state for each thread, just before that thread's init()
-- and start, so each thread gets its share there: tokens i, i + T, i + 2T, ... (T = WRK_THREADS).
local thread_count = tonumber(os.getenv("WRK_THREADS") or "2")
function setup(thread)
  local i = #threads + 1
  threads[i] = thread
  local pool = {}
  for k = i, #tokens, thread_count do pool[#pool + 1] = tokens[k] end
  thread:set("pool", pool)
  thread:set("tail", #pool + 1)
end

non200 = 0
empty = 0

-- The queue: pool[head] .. pool[tail - 1].
head = 1

function init(args)
  pool = pool or {}
  tail = tail or 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
end

function request()
  local token = nil
  if head < tail then
    token = pool[head]
    pool[head] = nil
    head = head + 1
  end
  if token == nil then
    empty = empty + 1
    token = "pool-empty"
  end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    return
  end
  local successor = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if successor then
    pool[tail] = successor
    tail = tail + 1
  else
    non200 = non200 + 1
  end
end

function done(s, latency, requests)
  local bad, hollow, left = 0, 0, {}
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    hollow = hollow + thread:get("empty")
    local p, first, last = thread:get("pool"), thread:get("head"), thread:get("tail")
    for k = first, last - 1 do left[#left + 1] = p[k] end
  end
  local out = os.getenv("POOL_OUT")
  if out and #out > 0 then
    local f = assert(io.open(out, "w"))
    for _, t in ipairs(left) do f:write(t, "\n") end
    f:close()
  end
  local e = s.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d status_err=%d sock_err=%d non200=%d empty=%d pooled=%d\n",
    s.requests, s.duration, s.requests / (s.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout, bad, hollow, #left))
end
