"""The web UI end to end in a real headless browser (Debian's chromium driven by Playwright): open the
example data and its prepare report, see a masked rendering, build and launch a LoRA run on the tiny
model, watch its loss curve grow, chat with the result next to its base.

Screenshots of each tab go to the test's tmp folder, and to docs/screenshots/ with
TUNESMITH_UPDATE_SCREENSHOTS=1 (the README shows those).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from test_ui_api import library_answer, make_workspace

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# Long enough to be seen growing on a fast, quiet machine too (the page polls a running run every half
# second; 16 steps of the tiny model could finish between two polls there).
STEPS = 48
EVAL_EVERY = 8
TOKEN = secrets.token_urlsafe(16)  # what `tunesmith ui` prints in its URL; the page gets its cookie from it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from tunesmith.ui.app import create_app

    root = make_workspace(tmp_path_factory.mktemp("ui-browser"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # as `tunesmith ui --root` does
        srv = uvicorn.Server(uvicorn.Config(create_app(root, token=TOKEN), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not srv.started:
            assert time.monotonic() < deadline, "the ui server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", root
        srv.should_exit = True
        thread.join(10)


@pytest.fixture()
def page(server):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The first visit with the token in the URL sets the cookie every later request carries.
        page.goto(f"{server[0]}/?token={TOKEN}")
        assert page.url == f"{server[0]}/", page.url  # the token is taken out of the address bar
        yield page
        browser.close()
        assert not errors, f"JavaScript errors: {errors}"


def shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("TUNESMITH_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{name}.png")


def test_data_train_chat_in_a_browser(server, page, tmp_path):
    url, root = server
    page.set_default_timeout(30_000)

    # -- Data: the example data's prepare output, its report, one record rendered with its loss mask --
    page.goto(f"{url}/#data")
    page.fill("#data-path", "prepared/")
    page.click("#data-open button[type=submit]")
    page.wait_for_selector("#data-records tr[data-index]")
    assert page.locator("#data-records tr[data-index]").count() == 9
    page.wait_for_selector("#data-report h2")
    assert page.locator("#data-report table.drops tr").count() > 3          # drops by step and reason
    assert "pii" in page.inner_text("#data-report table.drops")
    # The rendering form starts at the run config's defaults (one default: TemplateConfig's).
    from tunesmith.runs.config import TemplateConfig
    from tunesmith.text.templates import TEMPLATE_NAMES

    assert page.input_value("#render-template") == TemplateConfig().name == "auto"
    assert page.locator("#render-template option").all_inner_texts() == list(TEMPLATE_NAMES)
    assert page.input_value("#render-max") == str(TemplateConfig().max_seq_len)
    page.fill("#data-search", "机器学习")
    page.wait_for_function("document.querySelectorAll('#data-records tr[data-index]').length === 1")
    renders: list[str] = []
    page.on("request", lambda r: renders.append(r.url) if r.url.endswith("/api/data/render") else None)
    page.fill("#render-tokenizer", "tiny-llama")   # re-renders the selected record once typing pauses (600 ms)
    page.select_option("#render-template", "llama2")
    page.click("#data-records tr[data-index]")    # within those 600 ms: the pause asks for the same rendering
    page.wait_for_selector("pre.rendered[data-template=llama2] span.trained")
    trained = " ".join(page.locator("pre.rendered span.trained").all_inner_texts())
    masked = " ".join(page.locator("pre.rendered span.masked").all_inner_texts())
    assert "机器学习是人工智能的一个分支" in trained and "</s>" in trained
    assert "[INST]" in masked and "机器学习是人工智能" not in masked
    # That second request was the race (1 run in 8 read the spans while it had cleared the view): a
    # rendering already shown or on its way is not asked for again.
    page.wait_for_timeout(1000)
    assert len(renders) == 1, renders
    assert "tunesmith inspect" in page.inner_text("#data-record .command")
    page.click("#data-which button[data-which=rejected]")
    page.fill("#data-search", "")
    page.wait_for_selector("#data-records .reason")
    page.click("#data-which button[data-which=records]")
    page.wait_for_selector("#data-records tr[data-index]")
    page.locator("#data-records tr[data-index]").first.click()
    page.wait_for_selector("pre.rendered span.trained")
    shot(page, tmp_path, "data")

    # -- Train: a bad value is named inline; the estimate is live; launch; the curve grows ------------
    page.click("nav a[data-tab=train]")
    page.wait_for_selector("#train-form [name='model.path']")
    page.fill("[name='model.path']", "tiny-llama")
    page.fill("[name='data.train']", "prepared/train.jsonl")
    page.select_option("[name='template.name']", "llama2")
    page.fill("[name='train.max_steps']", str(STEPS))
    page.fill("[name='train.micro_batch_size']", "2")
    page.fill("[name='data.val_split']", "0.25")
    page.fill("[name='train.eval_every']", str(EVAL_EVERY))
    page.fill("[name='train.lr']", "abc")
    error = page.locator(".field-error[data-error-for='train.lr']")
    error.wait_for(state="visible")
    assert "valid number" in error.inner_text()
    assert page.is_disabled("#train-launch")
    page.fill("[name='train.lr']", "5e-3")
    error.wait_for(state="hidden")
    page.wait_for_selector("#train-estimate .peak")
    assert "MiB" in page.inner_text("#train-estimate .peak")
    page.wait_for_function("!document.querySelector('#train-launch').disabled")
    assert "tunesmith train" in page.inner_text("#train-command")
    page.click("#train-launch")
    page.wait_for_selector("#run-title:has-text('runs/run-1')")

    curve = "#run-chart polyline[data-series='train loss']"
    seen: list[int] = []
    deadline = time.monotonic() + 600  # a bound, not a wait: the loop ends when the run does (busy CPUs need minutes)
    while time.monotonic() < deadline:
        status = page.inner_text("#run-stats .status") if page.locator("#run-stats .status").count() else ""
        points = page.get_attribute(curve, "data-points") if page.locator(curve).count() else None
        if points and (not seen or int(points) != seen[-1]):
            seen.append(int(points))
        if status in ("finished", "failed"):
            break
        time.sleep(0.1)
    assert status == "finished", page.inner_text("#run-log")
    page.wait_for_function(f"document.querySelector(\"{curve}\")?.dataset.points === '{STEPS}'")
    seen.append(STEPS)
    assert len(set(seen)) >= 3, f"the curve never updated while the run trained: {seen}"  # watched it grow
    assert page.locator("#run-chart circle.dot.eval").count() == STEPS // EVAL_EVERY
    page.wait_for_selector("#train-runs tr[data-dir='runs/run-1'] .status.finished")
    shot(page, tmp_path, "train")

    # -- Chat: the finished run, streamed, next to its base -------------------------------------------
    page.click("nav a[data-tab=chat]")
    page.wait_for_function("document.querySelector('#chat-target').value === 'runs/run-1'")
    page.fill("#chat-max", "16")
    page.check("#chat-compare")
    page.fill("#chat-prompt", "什么是机器学习？")
    page.click("#chat-send")
    page.wait_for_selector(".bubble[data-side=tuned].done", timeout=120_000)
    page.wait_for_selector(".bubble[data-side=base].done", timeout=120_000)
    tuned = page.locator(".bubble[data-side=tuned] .text").inner_text()
    expected = library_answer(root / "runs" / "run-1", "什么是机器学习？", 16)
    assert tuned == (expected or "(empty answer: the end token came first)")
    assert "llama2 template" in page.inner_text("#chat-log")
    assert "tokens" in page.inner_text(".bubble[data-side=base] .meta")
    assert "tunesmith chat runs/run-1" in page.inner_text("#chat-command")
    shot(page, tmp_path, "chat")
