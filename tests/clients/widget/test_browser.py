"""The chat widget in headless Chromium: two people chat, an @stomp/stompjs client joins in,
and a page recovers what it missed while its hub was restarted."""

import asyncio
import io
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from backends import AMQP_URL, SECRET, hub_settings
from hub_server import RunningHub, free_port, running_hub
from hutch.clients.bot.echo import EchoBot
from hutch.clients.python import HutchAPI, HutchClient
from hutch.hub.auth import mint_token
from PIL import Image, ImageDraw
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET = Path(__file__).parents[3] / "clients" / "widget"
STOMPJS = WIDGET / "node_modules" / "@stomp" / "stompjs" / "bundles" / "stomp.umd.min.js"
AXE = WIDGET / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("HUTCH_SCREENSHOTS", Path(__file__).parents[3] / "build" / "screenshots"))


@pytest.fixture(scope="module", autouse=True)
def stompjs_installed() -> None:
    """@stomp/stompjs (and axe-core) from npm, as a team embedding hutch would get them."""
    if not STOMPJS.exists() or not AXE.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=WIDGET, check=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "Chromium is needed (the CI set-up installs Debian's chromium)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


async def sign_in(browser: Browser, hub_url: str, user: str, token: str | None = None) -> Page:
    """Open the demo page in a browser context of its own and sign in (a dev token unless given)."""
    page = await (await browser.new_context(viewport={"width": 900, "height": 560})).new_page()
    await page.goto(f"{hub_url}/")
    await page.fill("#user", user)
    if token is None:
        await page.click("#dev-token")
        await expect(page.locator("#token")).not_to_have_value("")
    else:
        await page.fill("#token", token)
    await page.click("#sign-in")
    await expect(page.locator(".hutch-status")).to_have_attribute("data-state", "online")
    return page


async def say(page: Page, text: str) -> None:
    await page.fill(".hutch-input", text)
    await page.click(".hutch-send")


def message(page: Page, text: str):
    return page.locator(".hutch-message", has_text=text)


async def test_two_people_chat_and_a_stompjs_client_joins(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob, cy = f"ana{run}", f"bob{run}", f"cy{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        anas = await sign_in(browser, hub.url, ana)
        bobs = await sign_in(browser, hub.url, bob)

        # ana starts a group with bob and cy; cy is an @stomp/stompjs client in another page
        await anas.fill(".hutch-new-participants", f"{bob}, {cy}")
        await anas.click(".hutch-start")
        await expect(anas.locator(".hutch-title")).to_contain_text(bob)
        cid = await anas.locator(".hutch-conversation.current").get_attribute("data-cid")
        cys = await stompjs_client(browser, hub, cy)

        await say(anas, "hello bob")
        # bob's widget and cy's client have it: ana sees it delivered, to two devices
        check = message(anas, "hello bob").locator(".hutch-check")
        await expect(check).to_have_class("hutch-check delivered")
        await expect(check).to_have_text("✓✓")
        await expect(check).to_have_attribute("title", "delivered to 2 device(s)")

        conversation = bobs.locator(f'.hutch-conversation[data-cid="{cid}"]')
        await expect(conversation.locator(".hutch-badge")).to_have_text("1")
        await expect(conversation.locator(".hutch-presence")).to_have_class("hutch-presence online")
        await conversation.click()
        await expect(message(bobs, "hello bob").locator(".hutch-sender")).to_have_text(ana)
        await expect(conversation.locator(".hutch-badge")).to_have_count(0)
        # read by bob, one of the two others: the group says so; ✓✓ (blue) waits for cy
        await expect(message(anas, "hello bob").locator(".hutch-read-by")).to_have_text("read by 1")
        await expect(check).to_have_class("hutch-check delivered")

        await say(bobs, "hi ana")
        await expect(message(anas, "hi ana")).to_be_visible()

        # the stompjs client heard both and speaks to the widgets
        # (it hears the stored acks and read receipts too: wait for the two messages themselves)
        await cys.wait_for_function("window.heard.filter(h => h.action === 'add').length >= 2")
        heard = await cys.evaluate("window.heard")
        assert [h["data"]["text"] for h in heard if h["action"] == "add"][:2] == ["hello bob", "hi ana"]
        await cys.evaluate(
            """([user, cid]) => window.client.publish({
                destination: `/exchange/${user}.publish/${cid}.messages`,
                headers: {"content-type": "application/json; rules=max@1"},
                body: JSON.stringify({uuid: crypto.randomUUID().replaceAll("-", ""), user: {username: user},
                                      action: "add", object: "message", data: {text: "cy via stompjs"}}),
            })""",
            [cy, cid],
        )
        await expect(message(anas, "cy via stompjs").locator(".hutch-sender")).to_have_text(cy)
        await expect(message(bobs, "cy via stompjs")).to_be_visible()

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, page in (("ana", anas), ("bob", bobs)):
            path = SCREENSHOTS / f"widget-{name}.png"
            await page.screenshot(path=str(path))
            assert path.stat().st_size > 10_000


async def stompjs_client(browser: Browser, hub: RunningHub, user: str) -> Page:
    """A page running @stomp/stompjs (its UMD bundle), subscribed to the user's stream."""
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{hub.url}/info")  # any page of the hub's origin
    await page.add_script_tag(path=str(STOMPJS))
    await page.evaluate(
        """([url, user]) => new Promise((resolve, reject) => {
            window.heard = [];
            window.client = new StompJs.Client({
                brokerURL: url, connectHeaders: {login: user, passcode: "dev", "x-hutch-form": "json"},
                reconnectDelay: 0,
            });
            window.client.onConnect = () => {
                window.client.subscribe(`/exchange/${user}.subscribe`, (m) => window.heard.push(JSON.parse(m.body)),
                                        {receipt: "subscribed"});
                window.client.watchForReceipt("subscribed", () => resolve());
            };
            window.client.onStompError = (frame) => reject(new Error(frame.headers.message));
            window.client.activate();
        })""",
        [hub.ws_url, user],
    )
    return page


async def test_the_widget_reconnects_after_a_restart_and_recovers_what_it_missed(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    port = free_port()
    settings = hub_settings("amqp") | {"dev_mode": False, "jwt_secret": SECRET}
    with running_hub(**settings) as other:  # bob's node stays up throughout
        async with HutchAPI(other.url, mint_token(ana, SECRET)) as api:
            cid = (await api.create_conversation([bob]))["id"]
        bob_client = HutchClient(other.ws_url, bob, mint_token(bob, SECRET))
        await bob_client.connect()
        with running_hub(port, **settings) as hub:
            anas = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
            await anas.click(f'.hutch-conversation[data-cid="{cid}"]')
            await bob_client.say(cid, "before the restart")
            await expect(message(anas, "before the restart")).to_be_visible()
        await expect(anas.locator(".hutch-status")).to_have_attribute("data-state", "reconnecting")
        for n in range(3):
            await bob_client.say(cid, f"missed {n}")
        await asyncio.sleep(0.5)  # stored by the worker of bob's node
        with running_hub(port, **settings):
            await expect(anas.locator(".hutch-status")).to_have_attribute(
                "data-state", "online", timeout=15_000
            )
            for n in range(3):
                await expect(message(anas, f"missed {n}")).to_have_count(1)
            texts = await anas.locator(".hutch-message .hutch-text").all_inner_texts()
            assert texts == ["before the restart", "missed 0", "missed 1", "missed 2"]
            await bob_client.say(cid, "after the restart")
            await expect(message(anas, "after the restart")).to_be_visible()
        await bob_client.close()


async def test_the_echo_bot_answers_in_the_widget(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, echo = f"ana{run}", f"echo{run}"
    with running_hub(**hub_settings("amqp"), dev_mode=False, jwt_secret=SECRET) as hub:
        bot = EchoBot(echo, AMQP_URL, queue_expires=30)
        await bot.start()
        try:
            anas = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
            await anas.fill(".hutch-new-participants", echo)
            await anas.click(".hutch-start")
            await expect(anas.locator(".hutch-title")).to_contain_text(echo)
            await say(anas, "ping")
            await expect(message(anas, "echo: ping").locator(".hutch-sender")).to_have_text(echo)
            await expect(message(anas, "ping").first.locator(".hutch-check")).to_have_text("✓")
        finally:
            await bot.stop()


async def open_activity(browser: Browser, hub: RunningHub, user: str, context: str) -> Page:
    """The activity view of `context`, signed in as `user`, online."""
    page = await (await browser.new_context(viewport={"width": 760, "height": 720})).new_page()
    query = urlencode({"user": user, "token": mint_token(user, SECRET), "context": context})
    await page.goto(f"{hub.url}/activity?{query}")
    await expect(page.locator(".hutch-status")).to_have_attribute("data-state", "online")
    return page


def picture() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (800, 400), (47, 111, 222))
    ImageDraw.Draw(image).ellipse((300, 100, 500, 300), fill=(255, 200, 40))
    image.save(out, "PNG")
    return out.getvalue()


async def test_the_activity_view_posts_comments_likes_and_shows_news_live(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    with running_hub(dev_mode=False, jwt_secret=SECRET) as hub:
        admin = HutchAPI(hub.url, mint_token(f"boss{run}", SECRET, roles=["admin"]))
        async with admin:
            url = f"https://school.example/physics/{run}"
            context = (await admin.create_context(url, preset="open", notifications="comments"))["hash"]
            for user in (ana, bob):
                await admin.subscribe(context, user)
        anas, bobs = (
            await open_activity(browser, hub, ana, context),
            await open_activity(browser, hub, bob, context),
        )

        await anas.fill(".hutch-post-input", "Exam on <b>Friday</b> #physics")
        await anas.click(".hutch-post-send")
        on_bobs = bobs.locator(".hutch-activity", has_text="Exam on Friday")
        await expect(on_bobs).to_be_visible()  # live: bob did not reload
        await expect(on_bobs.locator(".hutch-content b")).to_have_text("Friday")

        await on_bobs.locator(".hutch-comments-toggle").click()
        await on_bobs.locator(".hutch-comment-input").fill("Which room?")
        await on_bobs.locator(".hutch-comment-send").click()
        await expect(on_bobs.locator(".hutch-comment")).to_have_text(f"{bob}Which room?")
        on_anas = anas.locator(".hutch-activity", has_text="Exam on Friday")
        await expect(on_anas.locator(".hutch-comments-toggle")).to_have_text("Comments 1")  # live
        await on_bobs.locator(".hutch-like").click()
        await expect(on_bobs.locator(".hutch-like")).to_have_text("♥ 1")

        async with HutchAPI(hub.url, mint_token(ana, SECRET)) as rest:
            await rest.post("<img src=x onerror=window.pwned=1>Look at this", context=context)
            await rest.post_file(picture(), "sun.png", "The sun", context=context)
        image = bobs.locator(".hutch-activity", has_text="The sun").locator("img.hutch-image")
        await expect(image).to_be_visible()
        await bobs.wait_for_function("document.querySelector('img.hutch-image').naturalWidth === 400")
        await expect(bobs.locator(".hutch-activity", has_text="Look at this")).to_be_visible()
        assert await bobs.evaluate("window.pwned") is None  # the hub's sanitiser took the handler

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / "activity-bob.png"
        await bobs.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000


async def test_the_bell_counts_unseen_notifications_live_and_shows_the_feed(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana = f"ana{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        backend = HutchAPI(hub.url, mint_token(f"backend{run}", SECRET, roles=["admin"]))
        async with backend:
            await backend.notify(ana, "digest", "Your weekly digest is ready")
            page = await sign_in(browser, hub.url, ana)
            await expect(page.locator(".hutch-bell-count")).to_have_text("1")  # there before sign-in
            await backend.put_rule(f"like{run}", max_duration="1 hour", match_on="target")
            for n in range(3):
                await backend.notify(ana, f"like{run}", f"fan{n} liked your post", target="post1")
            await expect(page.locator(".hutch-bell-count")).to_have_text("4")  # live
            await page.click(".hutch-bell")
            entries = page.locator(".hutch-notification")
            await expect(entries).to_have_count(2)
            await expect(entries.first).to_contain_text("fan2 liked your post and 2 more")
            await expect(page.locator(".hutch-bell-count")).to_be_hidden()  # seen
            assert await backend.call("GET", f"/v1/notifications/{ana}") is not None
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / "widget-bell.png"
        await page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000


async def test_the_widget_moves_to_another_node_when_its_node_is_killed(browser: Browser) -> None:
    """The page comes from one node and is given both nodes' WebSockets; the node it is
    connected to is killed (SIGKILL): it reconnects to the other and recovers what it missed."""
    import signal

    from hub_nodes import nodes

    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    with nodes(2) as [(doomed, port_a), (_, port_b)]:
        async with HutchAPI(f"http://127.0.0.1:{port_b}", mint_token(bob, SECRET)) as bobs_api:
            cid = (await bobs_api.create_conversation([ana]))["id"]
        sockets = f"ws://127.0.0.1:{port_a}/ws,ws://127.0.0.1:{port_b}/ws"
        query = urlencode({"user": ana, "token": mint_token(ana, SECRET), "sockets": sockets})
        page = await (await browser.new_context(viewport={"width": 900, "height": 560})).new_page()
        await page.goto(f"http://127.0.0.1:{port_b}/?{query}")
        status = page.locator(".hutch-status")
        await expect(status).to_have_attribute("data-state", "online")
        assert await page.evaluate("window.hutch.wsUrl") == f"ws://127.0.0.1:{port_a}/ws"
        await page.locator(f'.hutch-conversation[data-cid="{cid}"]').click()
        async with HutchClient(f"ws://127.0.0.1:{port_b}/ws", bob, mint_token(bob, SECRET)) as bobs:
            await bobs.say(cid, "before")
            await expect(message(page, "before")).to_have_count(1)
            doomed.send_signal(signal.SIGKILL)
            for text in ("while away 1", "while away 2"):
                await bobs.say(cid, text)
            await expect(status).to_have_attribute("data-state", "online")
            for text in ("before", "while away 1", "while away 2"):
                await expect(message(page, text)).to_have_count(1)
        assert await page.evaluate("window.hutch.wsUrl") == f"ws://127.0.0.1:{port_b}/ws"


async def test_the_widget_recovers_what_it_missed_when_its_node_died_before_anything_was_stored(
    browser: Browser,
) -> None:
    """The page saw one message live, and its node died before the worker stored it: the page
    holds no stored id to resume from, yet once back it has everything said meanwhile."""
    import signal

    from hub_nodes import nodes, workers

    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    with nodes(2, worker=False) as [(doomed, port_a), (_, port_b)], workers() as start_worker:
        async with HutchAPI(f"http://127.0.0.1:{port_b}", mint_token(bob, SECRET)) as bobs_api:
            cid = (await bobs_api.create_conversation([ana]))["id"]
            sockets = f"ws://127.0.0.1:{port_a}/ws,ws://127.0.0.1:{port_b}/ws"
            query = urlencode({"user": ana, "token": mint_token(ana, SECRET), "sockets": sockets})
            page = await (await browser.new_context(viewport={"width": 900, "height": 560})).new_page()
            await page.goto(f"http://127.0.0.1:{port_b}/?{query}")
            status = page.locator(".hutch-status")
            await expect(status).to_have_attribute("data-state", "online")
            await page.locator(f'.hutch-conversation[data-cid="{cid}"]').click()
            await page.evaluate("window.hutch.backoffMs = 4000")  # away long enough for the worker
            async with HutchClient(f"ws://127.0.0.1:{port_b}/ws", bob, mint_token(bob, SECRET)) as bobs:
                await bobs.say(cid, "before")
                await expect(message(page, "before")).to_have_count(1)  # live; nothing stored yet
                doomed.send_signal(signal.SIGKILL)
                await expect(status).to_have_attribute("data-state", "reconnecting")
                for text in ("while away 1", "while away 2"):
                    await bobs.say(cid, text)
                start_worker()
                for _ in range(100):  # all three stored while the page is away
                    if len(await bobs_api.messages(cid)) == 3:
                        break
                    await asyncio.sleep(0.1)
                assert await page.evaluate("window.hutch.stomp") is None
            await expect(status).to_have_attribute("data-state", "online", timeout=10_000)
            for text in ("before", "while away 1", "while away 2"):
                await expect(message(page, text)).to_have_count(1)


def page_on(hub: RunningHub, user: str, port: int) -> str:
    """The demo page from `hub` (its REST API too), signed in, with its WebSocket on the node at
    `port`: that node can go away while the page and its API stay."""
    query = {"user": user, "token": mint_token(user, SECRET), "sockets": f"ws://127.0.0.1:{port}/ws"}
    return f"{hub.url}/?{urlencode(query)}"


async def test_what_is_typed_while_the_hub_is_away_waits_and_goes_once_it_is_back(browser: Browser) -> None:
    """Nothing typed is lost: while the hub is away a message waits, shown as such, and can be
    edited or cancelled, a reload keeps it; once back, what waits goes, each once, in order."""
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    port = free_port()
    settings = hub_settings("amqp") | {"dev_mode": False, "jwt_secret": SECRET}
    with running_hub(**settings) as other:  # serves the page and the REST API throughout
        async with HutchAPI(other.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana]))["id"]
            anas = await (await browser.new_context(viewport={"width": 900, "height": 560})).new_page()
            status = anas.locator(".hutch-status")
            with running_hub(port, **settings):
                await anas.goto(page_on(other, ana, port))
                await expect(status).to_have_attribute("data-state", "online")
                await anas.click(f'.hutch-conversation[data-cid="{cid}"]')
                await say(anas, "before")
                await expect(message(anas, "before").locator(".hutch-check")).to_have_text("✓")
            await expect(status).to_have_attribute("data-state", "reconnecting")
            for text in ("typed while away", "to cancel", "to edit"):
                await say(anas, text)
                await expect(message(anas, text)).to_have_class("hutch-message mine waiting")
                await expect(anas.locator(".hutch-input")).to_have_value("")
            await message(anas, "to cancel").locator(".hutch-cancel").click()
            await expect(message(anas, "to cancel")).to_have_count(0)
            await message(anas, "to edit").locator(".hutch-edit").click()
            await expect(anas.locator(".hutch-input")).to_have_value("to edit")
            await expect(message(anas, "to edit")).to_have_count(0)
            await anas.fill(".hutch-input", "edited later")
            await anas.click(".hutch-send")
            await anas.reload()  # the outbox is the page's localStorage: still there
            await anas.click(f'.hutch-conversation[data-cid="{cid}"]')
            for text in ("typed while away", "edited later"):
                await expect(message(anas, text)).to_have_class("hutch-message mine waiting")
            with running_hub(port, **settings):
                await expect(status).to_have_attribute("data-state", "online", timeout=15_000)
                for text in ("typed while away", "edited later"):
                    await expect(message(anas, text).locator(".hutch-check")).to_have_text(
                        "✓", timeout=10_000
                    )
                texts = [m["data"]["text"] for m in await bobs.messages(cid)]
                assert texts == ["before", "typed while away", "edited later"]
                assert (
                    await anas.evaluate("localStorage.getItem(`hutch-outbox:${window.hutch.user}`)") == "[]"
                )


async def test_a_message_the_hub_refuses_stays_marked_for_the_user(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob, cy = f"ana{run}", f"bob{run}", f"cy{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        async with HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana, cy]))["id"]
            page = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
            # Opened (its history and read positions read) before the removal: else the widget
            # finds it gone and never shows the composer the test writes in.
            history = page.expect_response(lambda r: f"/conversations/{cid}/messages" in r.url)
            positions = page.expect_response(lambda r: r.url.endswith(f"/conversations/{cid}/read"))
            async with history, positions:
                await page.click(f'.hutch-conversation[data-cid="{cid}"]')
            await bobs.remove_participant(cid, ana)
            await say(page, "after I was removed")
            refused = message(page, "after I was removed")
            await expect(refused).to_have_class("hutch-message mine failed")
            await expect(refused.locator(".hutch-check")).to_have_attribute(
                "title", re.compile("^not sent: ")
            )
            await expect(page.locator(".hutch-notice")).to_contain_text("Not sent")
            await refused.locator(".hutch-cancel").click()
            await expect(refused).to_have_count(0)
            assert [m["data"]["text"] for m in await bobs.messages(cid)] == []


async def test_a_conversation_someone_starts_appears_and_the_list_follows_activity(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob, cy = f"ana{run}", f"bob{run}", f"cy{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        page = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
        items = page.locator(".hutch-conversation")
        async with HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs:
            with_bob = (await bobs.create_conversation([ana]))["id"]
            await expect(items).to_have_count(1)  # no reload: the feed's news of it
            async with HutchAPI(hub.url, mint_token(cy, SECRET)) as cys:
                with_cy = (await cys.create_conversation([ana]))["id"]
                await expect(items).to_have_count(2)
            order = "[...document.querySelectorAll('.hutch-conversation')].map((li) => li.dataset.cid)"
            assert await page.evaluate(order) == [with_cy, with_bob]  # the newest first
            await bobs.post_message(with_bob, "up you go")
            await expect(items.first).to_have_attribute("data-cid", with_bob)
            await expect(items.first.locator(".hutch-badge")).to_have_text("1")


async def test_on_a_phone_the_list_and_the_conversation_take_turns_and_nothing_overflows(
    browser: Browser,
) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}{'o' * 52}"  # a long name (64) as well as long words
    long_word = "x" * 300
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        async with HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana]))["id"]
            await bobs.post_message(cid, f"a long word: {long_word}")
            await bobs.post_message(cid, "see https://example.org/" + "a/" * 80)
        for width in (375, 320):
            context = await browser.new_context(viewport={"width": width, "height": 640})
            page = await context.new_page()
            missing: list[str] = []
            page.on("response", lambda r, missing=missing: r.status == 404 and missing.append(r.url))
            await page.goto(hub.url)  # the sign-in form fits too
            for selector in ("#user", "#token", "#sign-in"):
                box = await page.locator(selector).bounding_box()
                assert box is not None and box["x"] + box["width"] <= width, selector
            await page.goto(f"{hub.url}/?{urlencode({'user': ana, 'token': mint_token(ana, SECRET)})}")
            await expect(page.locator(".hutch-status")).to_have_attribute("data-state", "online")
            await expect(page.locator(".hutch-main")).to_be_hidden()  # the list alone
            await page.locator(f'.hutch-conversation[data-cid="{cid}"]').click()
            await expect(page.locator(".hutch-side")).to_be_hidden()  # the conversation alone
            await expect(message(page, long_word)).to_be_visible()
            for selector in (".hutch-send", ".hutch-input", ".hutch-back"):
                box = await page.locator(selector).bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, selector
            for bubble in await page.locator(".hutch-message").all():
                box = await bubble.bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
            assert await page.evaluate("document.scrollingElement.scrollWidth") <= width
            assert await page.evaluate("document.querySelector('.hutch-messages').scrollWidth") <= width
            await screenshot(page, f"widget-{width}px-conversation")
            await page.locator(".hutch-back").click()
            await expect(page.locator(".hutch-side")).to_be_visible()
            await screenshot(page, f"widget-{width}px-list")
            assert missing == []  # the favicon too
            await context.close()
        page = await (await browser.new_context(viewport={"width": 1280, "height": 720})).new_page()
        await page.goto(f"{hub.url}/?{urlencode({'user': ana, 'token': mint_token(ana, SECRET)})}")
        await page.locator(f'.hutch-conversation[data-cid="{cid}"]').click()
        await expect(page.locator(".hutch-side")).to_be_visible()
        await expect(page.locator(".hutch-back")).to_be_hidden()
        await screenshot(page, "widget-1280px")


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png")


async def test_keyboard_only_opens_a_conversation_and_sends_several_lines(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        async with HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana]))["id"]
            page = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
            conversation = page.locator(f'.hutch-conversation[data-cid="{cid}"]')
            for _ in range(12):  # Tab along until the conversation has the focus
                await page.keyboard.press("Tab")
                if await conversation.evaluate("node => node.contains(document.activeElement)"):
                    break
            else:
                raise AssertionError("the conversation never took the focus")
            await page.keyboard.press("Enter")
            await expect(page.locator(".hutch-title")).to_have_text(bob)
            await expect(page.locator(".hutch-input")).to_be_focused()
            await page.keyboard.type("first line")
            await page.keyboard.press("Shift+Enter")
            await page.keyboard.type("second line")
            await page.keyboard.press("Enter")
            await expect(page.locator(".hutch-input")).to_have_value("")
            await expect(message(page, "first line").locator(".hutch-check")).to_have_text("✓")
            assert [m["data"]["text"] for m in await bobs.messages(cid)] == ["first line\nsecond line"]
            await expect(message(page, "first line").locator(".hutch-time")).to_have_text("just now")
            await page.reload()  # the tab keeps its session
            await expect(page.locator(".hutch-status")).to_have_attribute("data-state", "online")
            await expect(page.locator("#signin")).to_be_hidden()


async def test_an_expired_token_signs_out_with_a_way_back(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    with running_hub(dev_mode=False, jwt_secret=SECRET, jwt_clock_skew=0) as hub:  # expired when it says
        page = await sign_in(browser, hub.url, f"ana{run}", mint_token(f"ana{run}", SECRET, ttl=3))
        status = page.locator(".hutch-status")
        await expect(status).to_have_attribute("data-state", "signed out", timeout=20_000)
        await expect(page.locator(".hutch-notice")).to_contain_text("Sign in again")
        await page.locator(".hutch-sign-in-again").click()
        await expect(page.locator("#signin")).to_be_visible()
        await expect(page.locator("#token")).to_have_value("")
        await page.fill("#token", "not a token")
        await page.click("#sign-in")
        await expect(page.locator("#error")).to_have_text(
            "The hub did not take this token: check it, or ask for a new one."
        )


@pytest.mark.parametrize("width", [1280, 375])
async def test_no_serious_accessibility_violations(browser: Browser, width: int) -> None:
    """axe-core (npm) on the signed-in widget with a conversation open, a message waiting too."""
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        async with HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana]))["id"]
            await bobs.post_message(cid, "hello ana")
        page = await (await browser.new_context(viewport={"width": width, "height": 640})).new_page()
        await page.goto(f"{hub.url}/?{urlencode({'user': ana, 'token': mint_token(ana, SECRET)})}")
        await expect(page.locator(".hutch-status")).to_have_attribute("data-state", "online")
        await page.locator(f'.hutch-conversation[data-cid="{cid}"]').click()
        await say(page, "hello bob")
        await expect(message(page, "hello bob").locator(".hutch-check")).to_have_text("✓")
        await page.add_script_tag(path=AXE)
        found = await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
        serious = [
            f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']]}"
            for v in found["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], "\n".join(serious)


async def test_read_checks_come_from_the_hub_and_a_group_says_how_many_read(browser: Browser) -> None:
    """✓✓ survives a reload (members' read positions from the API); in a group, "read by N"
    until every other member has read, then ✓✓."""
    run = uuid.uuid4().hex[:6]
    ana, bob, cy = f"ana{run}", f"bob{run}", f"cy{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        async with (
            HutchAPI(hub.url, mint_token(ana, SECRET)) as anas,
            HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs,
            HutchAPI(hub.url, mint_token(cy, SECRET)) as cys,
        ):
            cid = (await anas.create_conversation([bob, cy], "trio"))["id"]
            page = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
            await page.click(f'.hutch-conversation[data-cid="{cid}"]')
            await say(page, "hello both")
            mine = message(page, "hello both")
            await expect(mine.locator(".hutch-check")).to_have_text("✓")
            stored_id = (await anas.messages(cid))[-1]["id"]
            await bobs.mark_read(cid, stored_id)
            await expect(mine.locator(".hutch-read-by")).to_have_text("read by 1")
            await expect(mine.locator(".hutch-check")).not_to_have_class(re.compile("read"))
            await cys.mark_read(cid, stored_id)
            await expect(mine.locator(".hutch-check")).to_have_class("hutch-check read")
            await page.reload()
            await page.click(f'.hutch-conversation[data-cid="{cid}"]')
            await expect(mine.locator(".hutch-check")).to_have_class("hutch-check read")
            await expect(mine.locator(".hutch-read-by")).to_have_text("read by 2")
            assert await anas.call("GET", f"/api/conversations/{cid}/read") == {
                ana: None,
                bob: stored_id,
                cy: stored_id,
            }


async def test_messages_recovered_into_the_open_conversation_are_marked_read(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    port = free_port()
    settings = hub_settings("amqp") | {"dev_mode": False, "jwt_secret": SECRET}
    with running_hub(**settings) as other:  # serves the page and the REST API throughout
        async with HutchAPI(other.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana]))["id"]
            await bobs.post_message(cid, "before")
            page = await (await browser.new_context(viewport={"width": 900, "height": 560})).new_page()
            status = page.locator(".hutch-status")
            with running_hub(port, **settings):
                await page.goto(page_on(other, ana, port))
                await expect(status).to_have_attribute("data-state", "online")
                await page.click(f'.hutch-conversation[data-cid="{cid}"]')
                await expect(message(page, "before")).to_be_visible()
            await expect(status).to_have_attribute("data-state", "reconnecting")
            for n in range(3):
                await bobs.post_message(cid, f"missed {n}")
            newest = (await bobs.messages(cid))[-1]["id"]
            with running_hub(port, **settings):
                await expect(message(page, "missed 2")).to_be_visible(timeout=15_000)
                for _ in range(50):
                    positions = await bobs.call("GET", f"/api/conversations/{cid}/read")
                    if positions[ana] == newest:
                        break
                    await asyncio.sleep(0.1)
                assert positions[ana] == newest
                await expect(
                    page.locator(f'.hutch-conversation[data-cid="{cid}"] .hutch-badge')
                ).to_have_count(0)


async def test_scrolling_up_reads_older_messages_and_the_pane_keeps_its_place(browser: Browser) -> None:
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub:
        async with HutchAPI(hub.url, mint_token(bob, SECRET)) as bobs:
            cid = (await bobs.create_conversation([ana]))["id"]
            for n in range(120):
                await bobs.post_message(cid, f"m{n:03}")
        page = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
        await page.click(f'.hutch-conversation[data-cid="{cid}"]')
        texts = page.locator(".hutch-message .hutch-text")
        await expect(texts).to_have_count(50)  # the newest page
        await expect(message(page, "m119")).to_be_in_viewport()
        pane = page.locator(".hutch-messages")
        await pane.evaluate("pane => { pane.scrollTop = 0; }")
        await expect(texts).to_have_count(100)
        await expect(message(page, "m070")).to_be_in_viewport()  # what was at the top stays in view
        await pane.evaluate("pane => { pane.scrollTop = 0; }")
        await expect(texts).to_have_count(120)
        assert await texts.all_inner_texts() == [f"m{n:03}" for n in range(120)]
        await say(page, "and mine")  # one's own message: the pane goes to the newest
        await expect(message(page, "and mine")).to_be_in_viewport()


async def test_a_conversation_gone_with_a_restart_leaves_the_list_and_starts_again_once(
    browser: Browser,
) -> None:
    """The embedded hub keeps conversations in memory: after its restart they are gone."""
    run = uuid.uuid4().hex[:6]
    ana, bob = f"ana{run}", f"bob{run}"
    port = free_port()
    with running_hub(port, dev_mode=True, jwt_secret=SECRET) as hub:
        page = await sign_in(browser, hub.url, ana, mint_token(ana, SECRET))
        await page.fill(".hutch-new-participants", bob)
        await page.click(".hutch-start")
        await expect(page.locator(".hutch-title")).to_have_text(bob)
    with running_hub(port, dev_mode=True, jwt_secret=SECRET):
        await expect(page.locator(".hutch-status")).to_have_attribute("data-state", "online", timeout=15_000)
        await expect(page.locator(".hutch-conversation")).to_have_count(0)
        await expect(page.locator(".hutch-notice")).to_have_text("That conversation is no longer there.")
        await expect(page.locator(".hutch-title")).to_have_text("Pick a conversation")
        await page.fill(".hutch-new-participants", bob)
        await page.click(".hutch-start")
        await expect(page.locator(".hutch-title")).to_have_text(bob)
        await expect(page.locator(".hutch-conversation")).to_have_count(1)
        await say(page, "hello again")
        await expect(message(page, "hello again").locator(".hutch-check")).to_have_text("✓")
