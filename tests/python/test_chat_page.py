"""The chat's web page in Debian's headless Chromium, driven by playwright-core: one browser
context joins a room and sends a message, a second context sees it appear. The test command
installs chromium (apt) and playwright-core (npm)."""

import os
import shutil
import subprocess

from test_chat_api import Chat

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_a_message_sent_in_one_browser_appears_in_another(broker):
    assert shutil.which("node"), "node is needed for the browser test"
    assert os.path.exists("/usr/bin/chromium"), "scripts/test.sh installs Debian's chromium"
    chat = Chat(broker.bootstrap)
    screenshot = os.path.abspath(os.path.join(ROOT, "target", "chat-page.png"))
    os.makedirs(os.path.dirname(screenshot), exist_ok=True)
    try:
        status, page = chat.call_text("GET", "/")
        assert status == 200 and "<title>runnel chat</title>" in page
        result = subprocess.run(
            ["node", os.path.join(ROOT, "tests", "browser", "chat_page.mjs"), chat.url, screenshot],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "bob saw ann's message" in result.stdout
        assert os.path.getsize(screenshot) > 1000
    finally:
        chat.stop()
