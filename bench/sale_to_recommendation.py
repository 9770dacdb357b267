"""How soon a sale shows in the next recommendation, over HTTP.

Each trial creates two new products (no history), sells them together at the till, and then
asks for the basket of the first one until the second is recommended. Reports how many of the
trials already had it on the very next request after the sale's response, and the delay from
the sale's response to the first answer that had it (so at least one request's round trip,
over one kept-alive connection as a till would hold).

Usage: python3 bench/sale_to_recommendation.py URL TOKEN [trials]
"""

import http.client
import json
import statistics
import sys
import time
import urllib.parse

CONNECTION = None


def call(url, token, method, path, body=None):
    global CONNECTION
    if CONNECTION is None:
        parts = urllib.parse.urlsplit(url)
        CONNECTION = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"authorization": "Bearer " + token}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["content-type"] = "application/json"
    CONNECTION.request(method, path, body=data, headers=headers)
    r = CONNECTION.getresponse()
    payload = r.read()
    if r.status >= 400:
        raise SystemExit(f"{method} {path}: {r.status} {payload[:200]!r}")
    return json.loads(payload or b"null")


def main():
    url, token = sys.argv[1], sys.argv[2]
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    stamp = int(time.time())
    delays, next_request_hits, polls_needed = [], 0, []
    for t in range(trials):
        ids = []
        for side in ("A", "B"):
            p = call(url, token, "POST", "/api/products", {
                "sku": f"LAT-{stamp}-{t}-{side}", "name": f"Latencia {t} {side}", "price": 1000,
                "cost": 500, "initial_stock": 10, "low_stock_threshold": 0})
            ids.append(p["id"])
        a, b = ids
        call(url, token, "POST", "/api/pos/sales",
             {"items": [{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 1}]})
        sold = time.perf_counter()
        polls = 0
        while True:
            polls += 1
            answer = call(url, token, "POST", "/api/recommendations/basket", {"items": [a], "limit": 1})
            recs = answer["recommendations"]
            if recs and recs[0]["product_id"] == b and recs[0]["source"] == "item-item":
                delays.append((time.perf_counter() - sold) * 1000)
                break
            if polls > 10_000:
                raise SystemExit(f"trial {t}: the sale never showed")
        polls_needed.append(polls)
        if polls == 1:
            next_request_hits += 1
    print(json.dumps({
        "trials": trials,
        "reflected_in_the_next_request": next_request_hits,
        "delay_ms_p50": round(statistics.median(delays), 3),
        "delay_ms_max": round(max(delays), 3),
        "polls_max": max(polls_needed),
    }))


if __name__ == "__main__":
    main()
