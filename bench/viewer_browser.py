"""Headless Chromium for the viewer tests and benchmark (Debian's chromium via Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@contextmanager
def browser_page(width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A fresh page in headless Chromium; console errors and dialogs are collected on it."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no chromium on PATH")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.console_errors = []  # type: ignore[attr-defined]
            page.dialogs = []  # type: ignore[attr-defined]
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))

            def on_dialog(d: Any) -> None:
                page.dialogs.append(d.message)
                d.dismiss()

            page.on("dialog", on_dialog)
            yield page
        finally:
            browser.close()
