"""HTTP: the FastAPI app, its endpoints and error presentation."""
