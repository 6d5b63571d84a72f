"""Shared and exclusive holds, and a rate limit: dependencies alone, no handlers, no lifespan."""

# --8<-- [start:multilock]
from typing import Annotated

from fastapi import Depends, FastAPI

from dflock_integrations.fastapi import HeldLease, dflock_multilock, dflock_rate_limit

app = FastAPI()
documents: dict[str, str] = {"readme": "hello"}  # stands in for your storage

# GET, HEAD and OPTIONS share the document (up to 16 at once); PUT and DELETE have it alone.
document = dflock_multilock("doc:{name}", max_shared=16, acquire_timeout_s=0)


@app.get("/docs/{name}")
async def read(name: str, hold: Annotated[HeldLease, Depends(document)]) -> dict:
    return {"name": name, "text": documents[name]}


@app.put("/docs/{name}")
async def write(name: str, text: str, hold: Annotated[HeldLease, Depends(document)]) -> dict:
    documents[name] = text
    return {"name": name, "fence": hold.fence}


# --8<-- [end:multilock]


# --8<-- [start:rate_limit]
@app.get("/api/{user}/search")
async def search(
    user: str,
    q: str,
    permit: Annotated[HeldLease, Depends(dflock_rate_limit("api:{user}", "5/s"))],
) -> dict:
    return {"user": user, "results": []}


# --8<-- [end:rate_limit]


if __name__ == "__main__":
    import asyncio

    import httpx

    from dflock_integrations import AsyncDflockClient

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://shop") as http,
            AsyncDflockClient() as dflock,  # another process, on the same keys
        ):
            readme = dflock.multilock("doc:readme", max_shared=16)
            reading = await readme.acquire("shared")  # someone else reads
            assert (await http.get("/docs/readme")).status_code == 200  # reading shares
            kept_out = await http.put("/docs/readme", params={"text": "new"})
            await reading.release(wait=True)  # confirmed: the next request finds it gone
            assert kept_out.status_code == 423, kept_out.text
            assert kept_out.headers["retry-after"] == "1"
            assert kept_out.json()["detail"]["error"] == "locked"
            written = await http.put("/docs/readme", params={"text": "new"})
            assert written.status_code == 200, written.text

            answers = [await http.get("/api/ann/search?q=x") for _ in range(6)]
            assert [a.status_code for a in answers[:5]] == [200] * 5, answers
            over = answers[5]
            assert over.status_code == 429, over.text
            assert int(over.headers["retry-after"]) >= 1
            assert over.json()["detail"]["error"] == "rate_limited"
            bob = await http.get("/api/bob/search?q=x")  # another key: its own budget
            assert bob.status_code == 200, bob.text

    asyncio.run(main())
    print("ok")
