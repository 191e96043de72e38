"""``python -m app``: serve the dashboard on ``HOST``:``PORT`` (see :mod:`app.config`)."""

from app.main import app, settings

if __name__ == "__main__":
    print(f"CNN family comparison on http://{settings.host}:{settings.port}/ (runs: {settings.runs_dir})", flush=True)
    app.run(host=settings.host, port=settings.port, debug=False)
