"""The Moodle client when Moodle says no or the network misbehaves; the token stays secret."""

from __future__ import annotations

import logging
import traceback

import pytest
import requests

from connectors.moodle import (
    MoodleClient,
    MoodleError,
    MoodleFunctionUnavailable,
    MoodleParameterError,
    MoodlePermissionError,
    MoodleTokenError,
    MoodleTransportError,
)
from tests.fake_moodle import recorded_bytes
from tests.support.moodle_mock import (  # noqa: F401  (moodle, client: fixtures)
    BASE_URL,
    ENDPOINT,
    TOKEN,
    answers,
    answers_json,
    client_fixture,
    mocked_client,
    mocked_moodle,
    moodle_error_body,
    moodle_fixture,
    sent,
)

# ------------------------------------------------------------------ Moodle says no


def test_an_invalid_token_is_refused_once_and_not_retried(moodle, client):
    answers(moodle, "error__bad_token")

    with pytest.raises(MoodleTokenError) as caught:
        client.get_site_info()

    error = caught.value
    assert (error.errorcode, error.message, error.function) == (
        "invalidtoken",
        "Invalid token - token not found",
        "core_webservice_get_site_info",
    )
    assert error.exception == "moodle_exception"
    assert "Manage tokens" in str(error)
    assert len(moodle.calls) == 1


def test_a_missing_capability_names_the_capability(moodle, client):
    answers(moodle, "error__missing_capability__student_reads_other_student_completion")

    with pytest.raises(MoodlePermissionError) as caught:
        client.get_activities_completion_status(2, 6)

    assert caught.value.errorcode == "nopermissions"
    assert "View activity completion reports" in str(caught.value)


def test_a_function_not_in_the_service_says_where_to_add_it(moodle, client):
    answers(moodle, "error__function_not_in_service")

    with pytest.raises(MoodleFunctionUnavailable) as caught:
        client.call("core_user_create_users", {"users": [{"username": "x"}]})

    error = caught.value
    assert error.errorcode == "accessexception"
    assert "Access to the function core_user_create_users() is not allowed." in str(error)
    assert "External services" in str(error)
    assert sent(moodle)["users[0][username]"] == "x"


def test_an_invalid_parameter_shows_moodles_explanation(moodle, client):
    answers(moodle, "error__invalid_parameter_type")

    with pytest.raises(MoodleParameterError) as caught:
        client.call("core_course_get_contents", {"courseid": "abc"})

    assert caught.value.errorcode == "invalidparameter"
    assert 'the value is "abc"' in str(caught.value)
    assert caught.value.debuginfo is not None


def test_other_moodle_errors_keep_moodles_code(moodle, client):
    answers(moodle, "error__course_not_found")

    with pytest.raises(MoodleError) as caught:
        client.get_course_contents(99999)

    assert type(caught.value) is MoodleError
    assert caught.value.errorcode == "invalidrecord"
    assert "table course" in str(caught.value)


# ------------------------------------------------------------------ the network misbehaves


def test_a_server_error_is_retried_with_growing_waits(moodle, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("connectors.moodle.client.time.sleep", waits.append)
    moodle.post(ENDPOINT, status=500, body="<h1>Internal error</h1>")
    moodle.post(ENDPOINT, status=503, body="")
    answers(moodle, "core_webservice_get_site_info")

    with MoodleClient(BASE_URL, TOKEN, retries=3, backoff=0.5) as patient:
        site = patient.get_site_info()

    assert site.username == "wsuser"
    assert len(moodle.calls) == 3
    assert waits == [0.5, 1.0]


def test_server_errors_that_persist_end_as_an_http_error(moodle, client):
    for _ in range(3):
        moodle.post(ENDPOINT, status=503, body="Service Unavailable")

    with pytest.raises(MoodleTransportError) as caught:
        client.get_site_info()

    assert caught.value.errorcode == "httperror"
    assert caught.value.http_status == 503
    assert "3 attempt(s)" in str(caught.value)
    assert len(moodle.calls) == 3


def test_an_unreachable_moodle_fails_after_the_retries(moodle, client):
    for _ in range(3):
        moodle.post(ENDPOINT, body=requests.ConnectionError("connection refused"))

    with pytest.raises(MoodleTransportError) as caught:
        client.get_site_info()

    error = caught.value
    assert error.errorcode == "connectionerror"
    assert BASE_URL in str(error) and "after 3 attempt(s)" in str(error)
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert len(moodle.calls) == 3


def test_a_connection_error_then_an_answer(moodle, client):
    moodle.post(ENDPOINT, body=requests.ConnectionError("reset by peer"))
    answers(moodle, "core_webservice_get_site_info")

    assert client.get_site_info().username == "wsuser"


def test_a_slow_moodle_is_not_asked_twice(moodle, client):
    moodle.post(ENDPOINT, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(MoodleTransportError) as caught:
        client.get_site_info()

    assert caught.value.errorcode == "timeout"
    assert "30 s" in str(caught.value)
    assert len(moodle.calls) == 1


def test_an_answer_that_is_not_json(moodle, client):
    moodle.post(ENDPOINT, body="<html><body>Login</body></html>", content_type="text/html")

    with pytest.raises(MoodleTransportError) as caught:
        client.get_site_info()

    error = caught.value
    assert error.errorcode == "notjson"
    assert "text/html" in str(error) and "<html><body>Login" in str(error)


def test_php_notices_before_the_json_are_explained(moodle, client):
    notice = b"<br />\n<b>Notice</b>: Undefined index in /var/www/x.php<br />\n"
    moodle.post(ENDPOINT, body=notice + recorded_bytes("core_webservice_get_site_info"))

    with pytest.raises(MoodleTransportError, match="debugdisplay"):
        client.get_site_info()


def test_json_is_read_whatever_the_content_type(moodle, client):
    moodle.post(
        ENDPOINT,
        body=recorded_bytes("core_webservice_get_site_info"),
        content_type="text/html; charset=utf-8",
    )

    assert client.get_site_info().username == "wsuser"


@pytest.mark.parametrize(
    ("status", "advice"), [(404, "without /webservice"), (403, "REST protocol")]
)
def test_http_errors_say_what_to_check(moodle, client, status, advice):
    moodle.post(ENDPOINT, status=status, body="")

    with pytest.raises(MoodleTransportError) as caught:
        client.get_site_info()

    assert caught.value.http_status == status
    assert advice in str(caught.value)
    assert len(moodle.calls) == 1


def test_a_redirect_is_not_followed_but_explained(moodle, client):
    moodle.post(ENDPOINT, status=301, headers={"Location": "https://www.moodle.example.org/"})

    with pytest.raises(MoodleTransportError) as caught:
        client.get_site_info()

    assert caught.value.errorcode == "redirect"
    assert "https://www.moodle.example.org/" in str(caught.value)
    assert len(moodle.calls) == 1


# ------------------------------------------------------------------ the token stays secret


def test_the_token_never_appears_in_logs_errors_or_reprs(moodle, caplog):
    caplog.set_level(logging.DEBUG)
    answers(moodle, "core_webservice_get_site_info")
    answers(moodle, "error__bad_token")
    moodle.post(ENDPOINT, status=502, body="")
    moodle.post(ENDPOINT, body=requests.ConnectionError("refused"))
    # A Moodle (or a proxy) that echoes the token back must not make us repeat it.
    answers_json(moodle, moodle_error_body("weird", f"token {TOKEN} rejected"))
    moodle.post(ENDPOINT, body=f"<html>wstoken={TOKEN}</html>")
    moodle.post(ENDPOINT, status=302, headers={"Location": f"{BASE_URL}/login?t={TOKEN}"})

    texts = []
    with MoodleClient(BASE_URL, TOKEN, retries=1, backoff=0) as leaky:
        texts.append(repr(leaky))
        texts.append(repr(leaky.get_site_info()))
        for _ in range(5):
            with pytest.raises(MoodleError) as caught:
                leaky.get_site_info()
            error = caught.value
            texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
            texts += [str(value) for value in vars(error).values()]

    assert len(moodle.calls) == 7
    assert sent(moodle, 0)["wstoken"] == TOKEN  # it was sent, in the body only
    assert all(TOKEN not in call.request.url for call in moodle.calls)
    assert caplog.text  # something was logged
    assert TOKEN not in caplog.text
    for text in texts:
        assert TOKEN not in text
    assert any("[token]" in text for text in texts)
