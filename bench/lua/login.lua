-- The sign-in flow with fresh phones: number_input -> dev inbox -> otp_input.
-- Each thread keeps its sign-ins in progress in two queues rather than per connection, so
-- two threads serve every connection: a connection ready to send takes the oldest sign-in
-- whose code is known (otp_input), else the oldest whose code was sent (the dev inbox), else
-- starts a new one (number_input). Every request carries X-Request-ID "STEP.PHONE", which the
-- gateway returns, so each answer finds its sign-in whichever connection it came back on.
-- args: one digit that keeps this run's phones apart from other runs'.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local serial = 0
-- Queues: [first, last] hold the items; login ids by phone while the code is awaited.
local inbox, otp = { first = 1, last = 0 }, { first = 1, last = 0 }
local login_ids = {}
logins = 0

setup = bench.setup

function init(args)
    run_digit = args[1]
end

local function push(queue, item)
    queue.last = queue.last + 1
    queue[queue.last] = item
end

local function pop(queue)
    if queue.first > queue.last then
        return nil
    end
    local item = queue[queue.first]
    queue[queue.first] = nil
    queue.first = queue.first + 1
    return item
end

local function headers(step, phone, json)
    local values = { ["X-Request-ID"] = step .. "." .. phone }
    if json then
        values["Content-Type"] = "application/json"
    end
    return values
end

function request()
    if bench.dry_run() then
        return wrk.format("GET", "/authentication/api_dev_sms/?phone=9000000000")
    end
    bench.started()
    local ready = pop(otp)
    if ready then
        return wrk.format("POST", "/authentication/api_otp_input/", headers("o", ready[1], true),
            '{"otp":"' .. ready[3] .. '","login_id":"' .. ready[2] .. '"}')
    end
    local phone = pop(inbox)
    if phone then
        return wrk.format("GET", "/authentication/api_dev_sms/?phone=" .. phone,
            headers("s", phone, false))
    end
    serial = serial + 1
    phone = string.format("9%s%02d%06d", run_digit, tid, serial)
    return wrk.format("POST", "/authentication/api_number_input/", headers("n", phone, true),
        '{"phone":"' .. phone .. '"}')
end

function response(status, response_headers, body)
    local id = response_headers["X-Request-ID"] or response_headers["x-request-id"] or ""
    local step, phone = id:match("^([nso])%.(%d+)$")
    bench.record(status, step and 200 or -1)
    if status ~= 200 or not step then
        login_ids[phone or ""] = nil
        return
    end
    if step == "n" then
        local login_id = body:match('"login_id"%s*:%s*"([^"]+)"')
        if login_id then
            login_ids[phone] = login_id
            push(inbox, phone)
        else
            unexpected = unexpected + 1 -- a 200 without a login id: this sign-in is lost
        end
    elseif step == "s" then
        local code = body:match('"code"%s*:%s*"(%d+)"')
        local login_id = login_ids[phone]
        if code and login_id then
            push(otp, { phone, login_id, code })
        else
            unexpected = unexpected + 1
        end
        login_ids[phone] = nil
    else
        logins = logins + 1
    end
end

function done(summary, latency, requests)
    bench.done(summary, latency, { "logins" })
end
