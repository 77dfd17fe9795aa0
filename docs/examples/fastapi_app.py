"""respcore responses from FastAPI routes: FastAPI wants a Starlette ``Response``, so wrap
the respcore response with ``respcore.starlette.adapt``; it is sent unchanged.

Run it with: uvicorn docs.examples.fastapi_app:app
"""

import threading

from fastapi import BackgroundTasks, FastAPI

from respcore import JsonResponse, TextResponse
from respcore.starlette import AdaptedResponse, adapt

app = FastAPI()
brewed = threading.Event()


@app.get("/")
async def hello() -> AdaptedResponse:
    return adapt(JsonResponse({"hello": "world"}))


@app.get("/teapot")
async def teapot(tasks: BackgroundTasks) -> AdaptedResponse:
    tasks.add_task(brewed.set)  # runs after the response is sent
    return adapt(TextResponse("I'm a teapot", status_code=418))
