-- wrk script for bench/load.py: each connection is one citizen after another, doing the
-- survey's round trip: GET the page, read the CSRF token and the signed render token (with the
-- submission id the server made, readable in its payload) from the HTML, POST a complete answer
-- with the session cookie, expect 303.
--
-- Run with one connection per thread (-t N -c N): wrk's Lua state is per thread and has no
-- connection id, so one connection per thread is what makes the GET/POST pairing exact.
-- Settings come from the environment (set by bench/load.py):
--   IKM_BENCH_PATHS    comma-separated survey paths (/s/<wave>/<opd>), used in turn
--   IKM_BENCH_OUT      folder for one record file per thread
--   IKM_BENCH_SECONDS  start no new citizen after this many seconds (the run then ends)
--   IKM_BENCH_MAX      at most this many citizens per thread
--   IKM_BENCH_THREADS  number of threads (for distinct client addresses)
--   IKM_BENCH_SEED     seed of the answers
--   IKM_BENCH_FIRST_ADDRESS  number of the first client address (see citizen_address)
-- Record lines: "G status us sent", "P status us sid sent" (sent: the request's send time, us
-- of CLOCK_MONOTONIC, as Python's time.monotonic), "X sid" (a POST sent but never answered),
-- "B" (a 200 page without the form's hidden fields),
-- "T first_us last_us" (the thread's first request and last response, monotonic clock).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } ikm_timespec;
int clock_gettime(int clk_id, ikm_timespec *tp);
]]
local ts = ffi.new("ikm_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local paths, out, deadline_s, max_citizens, nthreads, first_address
local state = "idle" -- "get" or "post": what the connection is waiting for
local sent_at, sid, cookie, csrf, token, path, address
local citizens, first_us, last_us = 0, nil, nil
local deadline_us
local stopped = false

function init(args)
  paths = {}
  for p in string.gmatch(os.getenv("IKM_BENCH_PATHS") or "/", "[^,]+") do
    table.insert(paths, p)
  end
  deadline_s = tonumber(os.getenv("IKM_BENCH_SECONDS") or "10")
  max_citizens = tonumber(os.getenv("IKM_BENCH_MAX") or "1000")
  nthreads = tonumber(os.getenv("IKM_BENCH_THREADS") or "1")
  first_address = tonumber(os.getenv("IKM_BENCH_FIRST_ADDRESS") or "0")
  math.randomseed(tonumber(os.getenv("IKM_BENCH_SEED") or "1") * 1000 + id)
  out = io.open((os.getenv("IKM_BENCH_OUT") or ".") .. "/thread-" .. id .. ".txt", "w")
  out:setvbuf("line")
end

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

-- A client address of the private range 10.0.0.0/8, one per citizen, each in a /24 of its own
-- for the first 65,536 citizens (honest citizens come from many networks; the survey's limits
-- count per network): it only ever travels in X-Forwarded-For, as nginx would set it.
local function citizen_address(k)
  local network = k % 65536
  return string.format("10.%d.%d.%d", math.floor(network / 256), network % 256,
    math.floor(k / 65536) % 254 + 1)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- The submission id inside a render token: itsdangerous' payload is base64url JSON
-- ([wave, OPD, "<32 hex>", time]) before the signature; only the signature is secret.
local function token_submission_id(value)
  local payload = string.match(value, "^([^.]+)%.")
  if payload == nil then return nil end
  local bits, nbits, out = 0, 0, {}
  for i = 1, #payload do
    local index = string.find(B64, string.sub(payload, i, i), 1, true)
    if index == nil then return nil end
    bits = bits * 64 + (index - 1)
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      local byte = math.floor(bits / 2 ^ nbits)
      bits = bits - byte * 2 ^ nbits
      table.insert(out, string.char(byte))
    end
  end
  return string.match(table.concat(out), '"(%x+)"')
end

local function get_request()
  citizens = citizens + 1
  path = paths[(citizens * nthreads + id) % #paths + 1]
  state = "get"
  address = citizen_address(first_address + (citizens - 1) * nthreads + id)
  return wrk.format("GET", path, { ["X-Forwarded-For"] = address })
end

function request()
  local now = now_us()
  if first_us == nil then
    first_us = now
    deadline_us = now + deadline_s * 1000000
  end
  if state == "post" then
    -- The POST's connection failed before an answer: it may or may not be stored.
    out:write("X ", sid, "\n")
  end
  if state == "get_done" then
    state = "post"
    sent_at = now
    local fields = {
      "csrf_token=" .. urlencode(csrf),
      "token=" .. urlencode(token),
    }
    for i = 1, 9 do
      table.insert(fields, "U" .. i .. "=" .. math.random(1, 4))
    end
    table.insert(fields, "sex=" .. (math.random(2) == 1 and "L" or "P"))
    table.insert(fields, "age=" .. math.random(18, 70))
    table.insert(fields, "education=S1&occupation=Swasta&service=KTP")
    table.insert(fields, "comment=" .. urlencode("Pelayanan cepat, terima kasih <b>&</b> '1'='1"))
    table.insert(fields, "website=")
    local headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = cookie,
      ["X-Forwarded-For"] = address,
    }
    return wrk.format("POST", path, headers, table.concat(fields, "&"))
  end
  sent_at = now
  return get_request()
end

function response(status, headers, body)
  local now = now_us()
  last_us = now
  local latency = now - sent_at
  if state == "get" then
    out:write("G ", status, " ", latency, " ", sent_at, "\n")
    local set_cookie = headers["Set-Cookie"] or headers["set-cookie"] or ""
    cookie = string.match(set_cookie, "^([^;]+)")
    csrf = string.match(body, 'name="csrf_token"[^>]-value="([^"]*)"')
    token = string.match(body, 'name="token" value="([^"]*)"')
    sid = token and token_submission_id(token)
    if status == 200 and cookie and csrf and sid then
      state = "get_done"
    else
      if status == 200 then
        out:write("B\n") -- a page without the form's hidden fields
      end
      state = "idle"
    end
  elseif state == "post" then
    out:write("P ", status, " ", latency, " ", sid, " ", sent_at, "\n")
    state = "idle"
  end
  if state == "idle" and not stopped and (citizens >= max_citizens or now >= deadline_us) then
    stopped = true
    out:write("T ", first_us, " ", last_us, "\n")
    out:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
