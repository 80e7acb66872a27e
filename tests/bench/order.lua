-- wrk script for make bench: POSTs a realistic V2 order create to
-- /trade-api/v2/portfolio/events/orders, each with a fresh client_order_id
-- (a UUID-shaped string unique per thread and request), and prints one JSON
-- line "BENCH_RESULT {...}" with the counts and latency percentiles (us).
--
-- With BENCH_CAPTURE=1 in the environment it also records the first few
-- non-2xx answers (status and body) per thread; that costs wrk CPU, so the
-- harness only sets it for a short diagnostic run after a failing cell.

local path = "/trade-api/v2/portfolio/events/orders"
local headers = { ["Content-Type"] = "application/json" }
local prefix = '{"ticker":"KXBENCH-26DEC31-A","side":"bid","count":"1.00","price":"0.5000",' ..
    '"time_in_force":"immediate_or_cancel","self_trade_prevention_type":"taker_at_cross",' ..
    '"client_order_id":"'
local suffix = '"}'
local capture = os.getenv("BENCH_CAPTURE") == "1"
-- BENCH_PACE_MS > 0: wait that long after each answer before the next
-- request (wrk's delay(); the wait is not part of the latency measured)
local pace = tonumber(os.getenv("BENCH_PACE_MS") or "0") or 0
if pace > 0 then
    function delay()
        return pace
    end
end

local threads = {}
local next_id = 0

function setup(thread)
    next_id = next_id + 1
    thread:set("tid", next_id)
    table.insert(threads, thread)
end

function init(args)
    counter = 0
    -- a per-run random part so ids never repeat between runs
    math.randomseed(os.time() * 1000 + tid)
    run_id = string.format("%08x", math.random(0, 0x7fffffff))
    samples = {}
    nsamples = 0
end

function request()
    counter = counter + 1
    -- UUID-shaped; every formatted number stays below 2^31 (LuaJIT's %x)
    local id = string.format("%s-%04x-4%03x-8%03x-%04x%08x", run_id, tid % 0x10000,
        math.floor(counter / 0x10000000) % 0x1000, math.random(0, 0xfff),
        math.random(0, 0xffff), counter % 0x10000000)
    return wrk.format("POST", path, headers, prefix .. id .. suffix)
end

if capture then
    function response(status, hdrs, body)
        if (status < 200 or status > 299) and nsamples < 3 then
            nsamples = nsamples + 1
            samples[nsamples] = string.format("%d %s", status, string.sub(body or "", 1, 400))
        end
    end
end

local function jstr(s)
    s = string.gsub(s, '[%c"\\]', function(c)
        return string.format("\\u%04x", string.byte(c))
    end)
    return '"' .. s .. '"'
end

function done(summary, latency, requests)
    local e = summary.errors
    local out = {
        string.format('"requests":%d', summary.requests),
        string.format('"duration_us":%d', summary.duration),
        string.format('"bytes":%d', summary.bytes),
        string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
            e.connect, e.read, e.write, e.status, e.timeout),
        string.format('"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,' ..
            '"p50":%d,"p90":%d,"p99":%d,"p99_9":%d}',
            latency.min, latency.mean, latency.stdev, latency.max,
            latency:percentile(50), latency:percentile(90), latency:percentile(99),
            latency:percentile(99.9)),
    }
    if capture then
        local all = {}
        for _, t in ipairs(threads) do
            local s = t:get("samples")
            if s then
                for _, v in ipairs(s) do
                    table.insert(all, jstr(v))
                end
            end
        end
        table.insert(out, '"samples":[' .. table.concat(all, ",") .. ']')
    end
    io.write("BENCH_RESULT {" .. table.concat(out, ",") .. "}\n")
end
