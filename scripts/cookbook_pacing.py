"""The OpenAI cookbook's parallel request pacing, REIMPLEMENTED from its
documented behaviour for the API benchmark (scripts/bench_api.py): not its
code, and labelled so in every table it appears in.

What `api_request_parallel_processor.py` is documented to do, and what
this does the same way:

- Request and token counters that start with a full minute's worth
  (`max_requests_per_minute`, `max_tokens_per_minute`) and refill
  continuously at the limit per minute, capped at a minute's worth.
- A loop that wakes every 1 ms: takes the next request (a retry first),
  sends it when both counters have room, and subtracts its cost (one
  request; its prompt tokens plus `max_tokens`). The cookbook counts
  prompt tokens with tiktoken; this counts a token per four bytes of body,
  as the benchmark's server does, so the estimate is exact here.
- A failed request goes to a retry queue until it has made `max_attempts`
  (5) attempts, then is written as a failure.
- After an error whose message says "Rate limit", the loop pauses 15 s. The
  benchmark's server answers 429s with "rate limit reached", a message that
  does not match, as the issue reports of the errors OpenAI sends today: the
  pause never fires.
- Results are written in completion order, each with its request.

Usage: cookbook_pacing.py REQUESTS.jsonl OUT.jsonl BASE_URL RPM TPM
"""

import asyncio
import json
import sys
import time

import aiohttp

MAX_ATTEMPTS = 5
LOOP_SLEEP = 0.001
PAUSE_AFTER_RATE_LIMIT = 15.0


async def main(requests_path, out_path, base, rpm, tpm):
    requests = [json.loads(line) for line in open(requests_path) if line.strip()]
    pending = iter(requests)
    retries = asyncio.Queue()
    capacity_requests, capacity_tokens = float(rpm), float(tpm)
    last_update = time.monotonic()
    last_rate_limit_error = 0.0
    in_progress = 0
    out = open(out_path, "w")
    counts = {"ok": 0, "failed": 0, "limited": 0}
    exhausted = False

    def cost(request):
        body = json.dumps(request["body"])
        return (len(body.encode()) + 3) // 4 + request["body"].get("max_tokens", 0)

    async def call(session, request, attempts_left):
        nonlocal in_progress, last_rate_limit_error
        status = None
        try:
            async with session.post(base + request["url"], json=request["body"]) as resp:
                status = resp.status
                answer = await resp.json(content_type=None)
            error = answer.get("error") if isinstance(answer, dict) else None
        except Exception as e:  # noqa: BLE001 - the cookbook catches everything too
            answer, error = None, {"message": str(e)}
        if error is not None:
            if status == 429:
                counts["limited"] += 1
            if "Rate limit" in error.get("message", ""):
                last_rate_limit_error = time.monotonic()
            if attempts_left > 1:
                retries.put_nowait((request, attempts_left - 1))
            else:
                counts["failed"] += 1
                out.write(json.dumps([request, [error]]) + "\n")
        else:
            counts["ok"] += 1
            out.write(json.dumps([request, answer]) + "\n")
        in_progress -= 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        next_request = None
        tasks = set()
        while True:
            if next_request is None:
                if not retries.empty():
                    next_request = retries.get_nowait()
                elif not exhausted:
                    try:
                        next_request = (next(pending), MAX_ATTEMPTS)
                    except StopIteration:
                        exhausted = True
            now = time.monotonic()
            elapsed = now - last_update
            capacity_requests = min(capacity_requests + rpm * elapsed / 60.0, float(rpm))
            capacity_tokens = min(capacity_tokens + tpm * elapsed / 60.0, float(tpm))
            last_update = now
            if next_request is not None:
                request, attempts_left = next_request
                need = cost(request)
                if capacity_requests >= 1 and capacity_tokens >= need:
                    capacity_requests -= 1
                    capacity_tokens -= need
                    in_progress += 1
                    task = asyncio.ensure_future(call(session, request, attempts_left))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    next_request = None
            if exhausted and next_request is None and in_progress == 0 and retries.empty():
                break
            await asyncio.sleep(LOOP_SLEEP)
            since = time.monotonic() - last_rate_limit_error
            if since < PAUSE_AFTER_RATE_LIMIT:
                await asyncio.sleep(PAUSE_AFTER_RATE_LIMIT - since)
    out.close()
    print(json.dumps(counts))


if __name__ == "__main__":
    path, out, base, rpm, tpm = sys.argv[1:6]
    asyncio.run(main(path, out, base, int(rpm), int(tpm)))
