-- The sign-in flow with fresh phones: number_input -> dev inbox -> otp_input, chained per
-- connection (run with one connection per thread: the thread's state is the connection's).
-- args: one digit that keeps this run's phones apart from other runs'.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local JSON = { ["Content-Type"] = "application/json" }
local step, serial = "number", 0
local phone, login_id, code
logins = 0

setup = bench.setup

function init(args)
    run_digit = args[1]
end

function request()
    if step == "number" then
        serial = serial + 1
        phone = string.format("9%s%02d%06d", run_digit, tid, serial)
        return wrk.format("POST", "/authentication/api_number_input/", JSON,
            '{"phone":"' .. phone .. '"}')
    elseif step == "sms" then
        return wrk.format("GET", "/authentication/api_dev_sms/?phone=" .. phone)
    end
    return wrk.format("POST", "/authentication/api_otp_input/", JSON,
        '{"otp":"' .. code .. '","login_id":"' .. login_id .. '"}')
end

function response(status, headers, body)
    bench.record(status, 200)
    local next_step = "number"
    if status == 200 then
        if step == "number" then
            login_id = body:match('"login_id"%s*:%s*"([^"]+)"')
            next_step = login_id and "sms" or "number"
        elseif step == "sms" then
            code = body:match('"code"%s*:%s*"(%d+)"')
            next_step = code and "otp" or "number"
        else
            logins = logins + 1
        end
    end
    step = next_step
end

function done(summary, latency, requests)
    bench.done(summary, latency, { "logins" })
end
