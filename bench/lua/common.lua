-- Shared by the load scripts: per-thread status counts and one JSON result line at the end.
-- Each wrk thread runs its own copy of the script; setup() and done() run in the main one.
local bench = {}

local threads = {}
local next_thread_id = 0

-- Per-thread state (globals of the thread's own Lua state).
status_counts = {}
unexpected = 0

function bench.setup(thread)
    thread:set("tid", next_thread_id)
    next_thread_id = next_thread_id + 1
    table.insert(threads, thread)
end

function bench.record(status, expected)
    status_counts[status] = (status_counts[status] or 0) + 1
    if status ~= expected then
        unexpected = unexpected + 1
    end
end

local function json_object(values)
    local parts = {}
    for key, value in pairs(values) do
        local encoded = type(value) == "table" and json_object(value) or string.format("%.17g", value)
        table.insert(parts, string.format('"%s":%s', tostring(key), encoded))
    end
    return "{" .. table.concat(parts, ",") .. "}"
end

-- `counters`: names of extra per-thread numeric globals to sum (e.g. completed logins).
function bench.done(summary, latency, counters)
    local statuses, total_unexpected, sums = {}, 0, {}
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("status_counts")) do
            statuses[status] = (statuses[status] or 0) + count
        end
        total_unexpected = total_unexpected + thread:get("unexpected")
        for _, name in ipairs(counters or {}) do
            sums[name] = (sums[name] or 0) + (thread:get(name) or 0)
        end
    end
    local result = {
        requests = summary.requests,
        duration_us = summary.duration,
        bytes = summary.bytes,
        errors = summary.errors,
        unexpected = total_unexpected,
        statuses = statuses,
        counters = sums,
        latency_us = {
            p50 = latency:percentile(50),
            p90 = latency:percentile(90),
            p99 = latency:percentile(99),
            max = latency.max,
            mean = latency.mean,
        },
    }
    io.write("BENCH_RESULT " .. json_object(result) .. "\n")
end

return bench
