-- wrk script: random two-product baskets (ids 1..N) posted with an x-api-key.
-- BODEGA_BENCH_KEY: the key; BODEGA_BENCH_PRODUCTS: N; BODEGA_BENCH_PATH: basket or user.
local key = os.getenv("BODEGA_BENCH_KEY")
local products = tonumber(os.getenv("BODEGA_BENCH_PRODUCTS") or "300")
local mode = os.getenv("BODEGA_BENCH_PATH") or "basket"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = key

request = function()
  local body
  if mode == "basket" then
    body = string.format('{"items":[%d,%d],"limit":10}', math.random(1, products), math.random(1, products))
  else
    body = string.format('{"user_id":"%d","strategy":"hybrid","limit":10}', math.random(1, 3000))
  end
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests/s %.0f  p50 %.3f ms  p99 %.3f ms  errors %d  non2xx %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.errors.status))
end
