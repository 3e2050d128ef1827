-- wrk script for bench/snapshot.py: bench/wrk/survey.lua (each connection one citizen after
-- another: GET the survey page, POST a complete answer) with a pause before every request, so
-- that the citizens load the server without saturating it: a p99 measured at saturation would
-- only say how the CPU is shared, not whether the downloads get in the survey's way.
-- Settings: those of survey.lua, plus
--   IKM_BENCH_SURVEY_LUA  absolute path of survey.lua (loaded as is)
--   IKM_BENCH_DELAY_MS    milliseconds to wait before each request (0: none)
-- Besides survey.lua's records it writes one "S" line per request sent to sent-<thread>.txt:
-- wrk counts no time-out for a request that is never answered, and survey.lua records only
-- answers, so the sent count is what shows requests that never came back.

dofile(os.getenv("IKM_BENCH_SURVEY_LUA"))

local pause = tonumber(os.getenv("IKM_BENCH_DELAY_MS") or "0")
local survey_init, survey_request = init, request
local sent

function init(args)
  survey_init(args)
  sent = io.open((os.getenv("IKM_BENCH_OUT") or ".") .. "/sent-" .. id .. ".txt", "w")
  sent:setvbuf("line")
end

function request()
  local req = survey_request()
  sent:write("S\n")
  return req
end

-- wrk calls delay() before each request and sends it that many milliseconds later; the
-- request's latency is timed from when it is sent (survey.lua's request()), not the pause.
function delay()
  return pause
end
