-- replay.lua in "once" mode: each line of the range is sent once. wrk asks delay() before each
-- request; once every line is out, a connection that comes free waits (an hour: past any run)
-- instead of sending more, and the thread stops when its last answer is in.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "replay.lua")

function delay()
    return sent_all and 3600000 or 0
end
