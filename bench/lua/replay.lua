-- Replays a file of requests, one tab-separated line each: METHOD PATH TOKEN BODY EXPECTED_STATUS.
-- Thread n takes the lines n, n + T, n + 2T, ... (T = thread count) and cycles through them,
-- so threads never share a line: a pool of single-use requests (activations) is used once.
-- args: the file, T. Mixed expected statuses need one connection per thread.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local requests, expected = {}, {}
local position, awaited = 1, 200

setup = bench.setup

function init(args)
    local thread_count = tonumber(args[2])
    local line_number = 0
    for line in io.lines(args[1]) do
        if line_number % thread_count == tid then
            local method, path, token, body, status =
                line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
            local headers = {}
            if token ~= "" then
                headers["Authorization"] = "Bearer " .. token
            end
            if body ~= "" then
                headers["Content-Type"] = "application/json"
            else
                body = nil
            end
            table.insert(requests, wrk.format(method, path, headers, body))
            table.insert(expected, tonumber(status))
        end
        line_number = line_number + 1
    end
end

function request()
    local index = position
    position = position % #requests + 1
    awaited = expected[index]
    return requests[index]
end

function response(status, headers, body)
    bench.record(status, awaited)
end

function done(summary, latency, requests)
    bench.done(summary, latency)
end
