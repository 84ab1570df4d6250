"""A phone photo of 8 to 11 MB, made smaller in Chromium and sent on a throttled mobile network.

Run: python tests/bench/bench_candidat_photo.py [--rounds N]

Two 4000×3000 JPEGs: a photo-like scene (shapes, edges, sensor grain, saved at quality
96 as phones do: 7.8 MB; the target) and pure noise (10.7 MB: the worst case, shown, since
noise compresses worse than any photo). Each is chosen on an activity's page at 360 px,
through the demo platform; the page's script (integration/static/candidat.js) decodes it,
draws it at 1600 px on the long side and encodes a JPEG (lighter when over 200 KB);
« Envoyer » sends it. Chromium's network emulation (CDP Network.emulateNetworkConditions)
applies, in turn:

- « Fast 4G » exactly as Chrome DevTools defines it (devtools-frontend
  front_end/core/sdk/NetworkManager.ts, Fast4GConditions): 9 Mbit/s down and 1.5 Mbit/s
  up, each × 0.9, and 60 ms × 2.75 = 165 ms of latency;
- « 9/9 Mbit/s », the symmetric profile the issue gave as an example (same latency).

Printed per profile, median of N rounds: the time to prepare the photo in the page, the
bytes the server received, the time to send them and get the next page, the total, and
the least time the original would take as it is (what the page did before).
Target: total under 2 s.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from integration import create_app  # noqa: E402
from integration.settings import Settings  # noqa: E402
from tests.support import components  # noqa: E402
from tests.support.database import migrate  # noqa: E402
from tests.support.photos import noisy_jpeg, scene_jpeg  # noqa: E402

TARGET_S = 2.0
LATENCY_MS = 60 * 2.75
PROFILES = {
    "Fast 4G (DevTools)": {"downloadThroughput": 9e6 / 8 * 0.9,
                           "uploadThroughput": 1.5e6 / 8 * 0.9, "latency": LATENCY_MS},
    "9/9 Mbit/s": {"downloadThroughput": 9e6 / 8, "uploadThroughput": 9e6 / 8,
                   "latency": LATENCY_MS},
}
RECEIVED: list[int] = []  # Content-Length of each photo POST the server received


def _counting(app: Any) -> Any:
    def wsgi(environ: dict[str, Any], start: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").endswith(
                "/photos"):
            RECEIVED.append(int(environ.get("CONTENT_LENGTH") or 0))
        return app(environ, start)
    return wsgi


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def one_round(browser: Any, base: str, photo: Path, profile: dict[str, float],
              task_url: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{base}/demo/start?who=candidat1&course=rae")
    page.wait_for_url(re.compile(r"/moi$"))
    page.goto(task_url)
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, **profile})
    started = time.perf_counter()
    page.locator("#f-photo").set_input_files(str(photo))
    page.locator("#apercu .ok").wait_for(timeout=60_000)
    prepared = time.perf_counter()
    page.locator("form[action$='/photos']").first.get_by_role("button", name="Envoyer").click()
    page.get_by_text("La photo est ajoutée.").wait_for(timeout=180_000)
    done = time.perf_counter()
    context.close()
    return {"prepare": prepared - started, "send": done - prepared, "total": done - started,
            "bytes": float(RECEIVED[-1] if RECEIVED else 0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    executable = components.chromium_path()
    if executable is None:
        print("Chromium is missing: apt-get install chromium")
        return 1
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    with tempfile.TemporaryDirectory() as tmp:
        photos = {"photo-like scene": scene_jpeg(Path(tmp) / "scene.jpg"),
                  "pure noise (worst)": noisy_jpeg(Path(tmp) / "telephone.jpg")}
        holder: dict[str, Any] = {}
        server = make_server("127.0.0.1", 0, lambda e, s: holder["wsgi"](e, s), threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        settings = Settings(var_dir=Path(tmp) / "var", secret_key="bench-photo", testing=True,
                            demo=True, base_url=base)
        migrate(settings.database_url)
        holder["app"] = create_app(settings)
        holder["wsgi"] = _counting(holder["app"])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print("photos: " + ", ".join(f"{k} {v.stat().st_size / 1e6:.1f} MB"
                                     for k, v in photos.items())
              + f", 4000×3000; rounds: {args.rounds}")
        ok = True
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=executable, args=ARGS)
                page = browser.new_page()
                page.goto(f"{base}/demo/start?who=candidat1&course=rae")
                page.wait_for_url(re.compile(r"/moi$"))
                page.goto(f"{base}/moi/activites/nouvelle")
                page.get_by_label("Ce que je fais").fill("Je mets en rayon")
                for n in range(1, 5):
                    page.locator(f"[data-step='{n}'] [data-next]").click()
                page.get_by_role("button", name="Enregistrer").click()
                page.wait_for_url(re.compile(r"/competences"))
                task_url = page.url.split("/competences")[0]
                page.close()
                for (name, profile), (kind, photo) in (
                        (p, ph) for ph in photos.items() for p in PROFILES.items()):
                    rounds = [one_round(browser, base, photo, profile, task_url)
                              for _ in range(args.rounds)]
                    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
                    verdict = "ok" if med["total"] < TARGET_S else "OVER"
                    if kind == "photo-like scene":  # the target; noise is shown for the worst
                        ok = ok and med["total"] < TARGET_S
                    print(f"{kind}, {name}:")
                    print(f"{'':20} prepare {med['prepare']:.2f} s, sent "
                          f"{med['bytes'] / 1e6:.2f} MB in {med['send']:.2f} s, "
                          f"total {med['total']:.2f} s (target < {TARGET_S:.0f} s: {verdict})")
                    raw = photo.stat().st_size / profile["uploadThroughput"]
                    print(f"{'':20} the original as it is ({photo.stat().st_size / 1e6:.1f} MB) "
                          f"would take at least {raw:.0f} s")
                browser.close()
        finally:
            server.shutdown()
            holder["app"].extensions["reperes"].engine.dispose()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
