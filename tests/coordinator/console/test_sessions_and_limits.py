"""The pure parts of the console's defences: session expiry, sign-in limiting, password hashing."""

from __future__ import annotations

from shareai.coordinator.console.passwords import hash_password, verify_password
from shareai.coordinator.console.security import public_origin
from shareai.coordinator.console.sessions import SessionStore, expired
from shareai.coordinator.console.signin import ADDRESS_FACTOR, SigninLimiter
from tests.clock import ManualClock as Clock


def test_a_session_ends_when_idle_too_long_or_too_old() -> None:
    clock = Clock()
    store = SessionStore(idle_s=60.0, max_s=300.0, clock=clock)
    sid, session = store.create("usr_1")
    assert store.get(sid) is session
    clock.advance(59.0)
    assert store.get(sid) is session  # touched: the idle timer restarts
    clock.advance(59.0)
    assert store.get(sid) is session
    clock.advance(61.0)
    assert store.get(sid) is None  # idle past 60 s
    assert store.take_expired() == [session] and len(store) == 0

    sid, session = store.create("usr_1")
    for _ in range(5):
        clock.advance(59.0)
        assert store.get(sid) is session
    clock.advance(59.0)  # 354 s old, never idle for long: the absolute end still holds
    assert store.get(sid) is None
    assert expired(0.0, 0.0, 60.0, idle_s=60.0, max_s=300.0) is False
    assert expired(0.0, 250.0, 300.5, idle_s=60.0, max_s=300.0) is True


def test_sessions_are_stored_by_hash_and_end_per_user() -> None:
    store = SessionStore()
    sid, _ = store.create("usr_1")
    other, _ = store.create("usr_2")
    assert sid not in repr(store._sessions)  # only hashes of the cookie values are kept
    assert store.get(sid + "x") is None and store.get("") is None and store.get(None) is None
    assert len(store.end_user("usr_1")) == 1
    assert store.get(sid) is None and store.get(other) is not None
    assert store.end(other) is not None and store.get(other) is None


def test_sign_in_failures_are_limited_per_email_and_per_address() -> None:
    clock = Clock()
    limiter = SigninLimiter(max_failures=3, window_s=100.0, clock=clock)
    for _ in range(3):
        assert limiter.blocked("a@x.test", "1.2.3.4") == 0.0
        limiter.failed("A@x.test ", "1.2.3.4")  # emails count case-insensitively
        clock.advance(10.0)
    # Blocked from any address until the oldest failure leaves the window.
    assert limiter.blocked("a@x.test", "5.6.7.8") == 100.0 - 30.0
    clock.advance(70.0)
    assert limiter.blocked("a@x.test", "5.6.7.8") == 0.0
    limiter.succeeded("a@x.test", "1.2.3.4")
    # Many emails from one address: stopped at ADDRESS_FACTOR times the allowance.
    clock.advance(1000.0)
    for i in range(3 * ADDRESS_FACTOR):
        assert limiter.blocked(f"u{i}@x.test", "9.9.9.9") == 0.0
        limiter.failed(f"u{i}@x.test", "9.9.9.9")
    assert limiter.blocked("fresh@x.test", "9.9.9.9") > 0.0
    assert limiter.blocked("fresh@x.test", "8.8.8.8") == 0.0


def test_passwords_are_salted_scrypt_hashes() -> None:
    a, b = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert a != b and a.startswith("scrypt$32768$8$1$")
    assert verify_password("correct horse battery", a) and verify_password("correct horse battery", b)
    assert not verify_password("correct horse batterY", a)
    assert not verify_password("x", "not-a-hash") and not verify_password("x", "scrypt$1$2$3$$")


def test_the_public_url_names_the_origin_browsers_send_behind_a_proxy() -> None:
    assert public_origin("https://console.example.com/") == "https://console.example.com"
    assert public_origin("https://console.example.com:8443/base") == "https://console.example.com:8443"
    assert public_origin(None) is None and public_origin("not a url") is None
