"""Driving the app through AppTest: sign in as a demo user, open a page, find a grid."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.demo import DEMO_USERS

HOME = str(Path(__file__).resolve().parents[2] / "Home.py")


def signed_in(username: str) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(DEMO_USERS[username])
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def on_page(username: str, page: str) -> AppTest:
    return open_page(signed_in(username), page)


def frame_with(at: AppTest, column: str):
    """The first grid with this column (AppTest does not expose a grid's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)
