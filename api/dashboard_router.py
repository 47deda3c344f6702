"""The dashboard page and its static files, plotly.js included: no CDN, works offline."""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"
# plotly.js ships inside the plotly wheel: the dashboard needs no CDN and no front-end build.
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

router = APIRouter(include_in_schema=False)


@router.get("/")
def home():
    return RedirectResponse("/dashboard")


@router.get("/dashboard")
def dashboard():
    return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html")


@router.get("/static/plotly.min.js")
def plotly_js():
    return FileResponse(PLOTLY_JS, media_type="text/javascript")
