"""The browser side's routes: demo page, widget files, rule sets, dev tokens."""

import httpx
import jwt
from backends import SECRET
from hub_server import running_hub


def test_the_demo_page_widget_and_rule_sets_are_served() -> None:
    with running_hub(dev_mode=False) as hub, httpx.Client(base_url=hub.url) as http:
        page = http.get("/")
        assert page.status_code == 200 and "/widget/hutch-widget.js" in page.text
        for name, kind in (
            ("hutch-widget.js", "javascript"),
            ("hutch-widget.css", "css"),
            ("hutch-rules.js", "javascript"),
        ):
            served = http.get(f"/widget/{name}")
            assert served.status_code == 200 and kind in served.headers["content-type"]
        rules = http.get("/rules/max@1.json")
        assert rules.status_code == 200 and rules.json()["name"] == "max"
        assert http.get("/rules/max@9.json").status_code == 404
        refused = http.post("/dev/token", json={"user": "ana"})
        assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"


def test_dev_mode_hands_out_tokens_the_hub_takes() -> None:
    with running_hub(dev_mode=True, jwt_secret=SECRET) as hub, httpx.Client(base_url=hub.url) as http:
        answer = http.post("/dev/token", json={"user": "ana"})
        assert answer.status_code == 200
        token = answer.json()["token"]
        assert jwt.decode(token, SECRET, algorithms=["HS256"])["sub"] == "ana"
        mine = http.get("/api/conversations", headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200 and mine.json() == []
        assert http.post("/dev/token", json={}).status_code == 400


def test_a_dev_token_is_its_users_over_rest_too() -> None:
    """Without a JWT secret a dev token names its user: REST with only the token is that user
    (the README's Python client example under `make serve`)."""
    with running_hub(dev_mode=True) as hub, httpx.Client(base_url=hub.url) as http:
        token = http.post("/dev/token", json={"user": "ana"}).json()["token"]
        created = http.post(
            "/api/conversations", json={"participants": ["bob"]}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201 and sorted(created.json()["participants"]) == ["ana", "bob"]
        assert http.post("/dev/token", json={"user": "bad/name"}).status_code == 400
