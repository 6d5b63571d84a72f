"""What every HTTP adapter (Starlette, FastAPI, Django) shares, and nothing else uses.

- `answers.py`: the answer to each refusal (423, 429, 503...), JSON, with Retry-After.
- `rules.py`: middleware rules, which requests take which key.
- `hold.py`: the one way to hold a key around a request: take, wait while watching
  the client, give up with the right answer, release, log a loss.
- `limiters.py`: the other kinds held that way, a multilock mode and a rate-limit
  admission, and which kind an entry point's options ask for; `handles.py`: their handles.

The adapters re-export what users need (`Rule`, `HttpAnswer`).
"""
