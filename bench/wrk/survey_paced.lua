-- wrk script for bench/snapshot.py: bench/wrk/survey.lua (each connection one citizen after
-- another: GET the survey page, POST a complete answer) with a pause before every request, so
-- that the citizens load the server without saturating it: a p99 measured at saturation would
-- only say how the CPU is shared, not whether the downloads get in the survey's way.
-- Settings: those of survey.lua, plus
--   IKM_BENCH_SURVEY_LUA  absolute path of survey.lua (loaded as is)
--   IKM_BENCH_DELAY_MS    milliseconds to wait before each request (0: none)
-- Besides survey.lua's output it prints one line "SENT <thread id> <requests made> <answers>"
-- per thread: wrk counts no time-out for a request that is never answered, and survey.lua
-- records only answers, so these counts are what show requests that never came back. (Counted
-- in memory: another file per thread would take wrk's last connection over its event loop's
-- fd limit.)

dofile(os.getenv("IKM_BENCH_SURVEY_LUA"))

local pause = tonumber(os.getenv("IKM_BENCH_DELAY_MS") or "0")
local survey_setup, survey_request, survey_response, survey_done = setup, request, response, done
local all_threads = {}
-- Globals of each thread's state, read back with thread:get() at the end.
sent = 0
answered = 0

function setup(thread)
  survey_setup(thread)
  table.insert(all_threads, thread)
end

function request()
  local req = survey_request()
  sent = sent + 1
  return req
end

function response(status, headers, body)
  answered = answered + 1
  survey_response(status, headers, body)
end

-- wrk calls delay() before each request and sends it that many milliseconds later; the
-- request's latency is timed from when it is sent (survey.lua's request()), not the pause.
function delay()
  return pause
end

function done(summary, latency, requests)
  survey_done(summary, latency, requests)
  for _, thread in ipairs(all_threads) do
    io.write(string.format("SENT %d %d %d\n", thread:get("id"), thread:get("sent") or 0,
      thread:get("answered") or 0))
  end
end
