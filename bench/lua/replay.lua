-- Replays a file of requests, one tab-separated line each:
--   METHOD PATH TOKEN BODY EXPECTED_STATUS [EXPECTED_CODE]
-- args: the file, T (the thread count), FIRST, STOP (0-based lines [FIRST, STOP) of the file;
-- STOP 0: to the end), MODE: "cycle" goes round the lines until wrk's duration is over;
-- "once" (with replay_once.lua) sends each line once: a thread stops when the answer to its
-- last line is in, or at the end of wrk's duration.
-- Thread n takes the lines FIRST + n, FIRST + n + T, FIRST + n + 2T, ..., so threads never share
-- a line: a pool of single-use requests (activations) is used once.
-- A file whose lines expect different answers tags each request with X-Request-ID
-- "bench-LINE", which the gateway returns: each answer is checked against its own line, on any
-- connection of any thread. EXPECTED_CODE, when given, must appear in the body as "CODE".
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local requests, statuses = {}, {}
local expected, codes = {}, {}
local position, once, mixed, uniform = 1, false, false, 200
-- Once mode: every line has been handed out; requests sent and not answered yet.
sent_all, in_flight = false, 0
-- Answers to lines that expected another status than 200 (e.g. refused activations).
refusals_awaited = 0

setup = bench.setup

local function parse(line)
    return line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?([^\t]*)$")
end

function init(args)
    local thread_count = tonumber(args[2])
    local first = tonumber(args[3] or "0")
    local stop = tonumber(args[4] or "0")
    once = args[5] == "once"
    local mine, line_number, seen = {}, 0, nil
    for line in io.lines(args[1]) do
        if line_number >= first and (stop == 0 or line_number < stop) then
            local method, path, token, body, status, code = parse(line)
            local answer = status .. "\t" .. code
            if seen == nil then
                seen = answer
            elseif answer ~= seen then
                mixed = true
            end
            if (line_number - first) % thread_count == tid then
                table.insert(mine, { line_number, method, path, token, body, tonumber(status), code })
            end
        end
        line_number = line_number + 1
    end
    if #mine == 0 then
        error("thread " .. tid .. " has no line of " .. args[1] .. " to send")
    end
    for _, item in ipairs(mine) do
        local number, method, path, token, body, status, code = unpack(item)
        local headers = {}
        if token ~= "" then
            headers["Authorization"] = "Bearer " .. token
        end
        if body ~= "" then
            headers["Content-Type"] = "application/json"
        else
            body = nil
        end
        if mixed then
            headers["X-Request-ID"] = "bench-" .. number
            expected[number] = status
            codes[number] = code ~= "" and ('"' .. code .. '"') or nil
        else
            uniform = status
        end
        table.insert(requests, wrk.format(method, path, headers, body))
    end
end

function request()
    if bench.dry_run() then
        return requests[1]
    end
    bench.started()
    local index = position
    if once then
        -- Past the last line only a connection that was already due can ask (replay_once.lua
        -- holds back the others): it sends the last line again.
        index = math.min(index, #requests)
        sent_all = index == #requests
        position = position + 1
    else
        position = position % #requests + 1
    end
    in_flight = in_flight + 1
    return requests[index]
end

function response(status, headers, body)
    in_flight = in_flight - 1
    if sent_all and in_flight == 0 then
        bench.stop()
    end
    if not mixed then
        bench.record(status, uniform)
        return
    end
    local id = headers["X-Request-ID"] or headers["x-request-id"] or ""
    local number = tonumber(id:match("^bench%-(%d+)$") or "")
    local awaited = number and expected[number]
    local code = number and codes[number]
    if awaited and awaited ~= 200 then
        refusals_awaited = refusals_awaited + 1
    end
    if awaited and code and status == awaited and not body:find(code, 1, true) then
        awaited = -1 -- the right status with the wrong error code
    end
    bench.record(status, awaited or -1)
end

function done(summary, latency, requests)
    bench.done(summary, latency, { "refusals_awaited" })
end
