-- wrk script for bench/search_latency.py: one request per line of the paths file (URL-encoded
-- searches, each distinct), cycling; prints the latency percentiles as one JSON line at the end.
--   wrk -t1 -c8 -d10s -s bench/wrk_search.lua http://127.0.0.1:8000 -- paths.txt
local paths = {}
local i = 0

function init(args)
    for line in io.lines(args[1]) do
        paths[#paths + 1] = line
    end
    -- each wrk thread starts at a different place, so threads do not send the same searches
    i = math.random(#paths)
end

function request()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
    local errors = summary.errors.status + summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    io.write(string.format(
        '{"requests": %d, "errors": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
        summary.requests, errors, summary.duration / 1e6, latency:percentile(50) / 1e3,
        latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
