"""The web side of the example story: `uvicorn fastapi_app.main:app`, run from example_projects/."""
