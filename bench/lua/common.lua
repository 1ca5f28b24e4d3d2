-- Shared by the load scripts: per-thread status counts, a wall clock, and one JSON result line
-- at the end. Each wrk thread runs its own copy of the script; setup() and done() run in the
-- main one.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local bench = {}

local threads = {}
local next_thread_id = 0

-- Per-thread state (globals of the thread's own Lua state).
status_counts = {}
unexpected = 0
-- When the thread sent its first request, and when it stopped on its own (0: it did not).
started_us = 0
stopped_us = 0

function bench.now_us()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
    return tonumber(timespec.tv_sec) * 1000000 + tonumber(timespec.tv_nsec) / 1000
end

-- wrk asks thread 0's script for one request before the run starts, only to check that it
-- parses: that first call of thread 0 must not consume a line or start anything.
local checked = false
function bench.dry_run()
    if checked then
        return false
    end
    checked = true
    return tid == 0
end

function bench.setup(thread)
    thread:set("tid", next_thread_id)
    next_thread_id = next_thread_id + 1
    table.insert(threads, thread)
end

function bench.started()
    if started_us == 0 then
        started_us = bench.now_us()
    end
end

-- A thread that has sent all it had to send stops; what it still awaited is not counted.
function bench.stop()
    stopped_us = bench.now_us()
    wrk.thread:stop()
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
    local first_start, last_end, stopped_threads = nil, 0, 0
    local now = bench.now_us()
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("status_counts")) do
            statuses[status] = (statuses[status] or 0) + count
        end
        total_unexpected = total_unexpected + thread:get("unexpected")
        for _, name in ipairs(counters or {}) do
            sums[name] = (sums[name] or 0) + (thread:get(name) or 0)
        end
        local started, stopped = thread:get("started_us"), thread:get("stopped_us")
        if started > 0 and (first_start == nil or started < first_start) then
            first_start = started
        end
        if stopped > 0 then
            stopped_threads = stopped_threads + 1
        end
        last_end = math.max(last_end, stopped > 0 and stopped or now)
    end
    -- wrk's own duration is the whole --duration even when every thread stopped early: then
    -- the run lasted from the first request sent to the last thread's stop.
    local duration = summary.duration
    if stopped_threads > 0 and first_start ~= nil then
        duration = last_end - first_start
    end
    sums["stopped_threads"] = stopped_threads
    local result = {
        requests = summary.requests,
        duration_us = duration,
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
