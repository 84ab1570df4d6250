"""NextcloudStore against the answers recorded from a real Nextcloud 34.

The recordings (shared/data/nextcloud-34) are replayed with ``responses``: OCS
shares first, then the WebDAV answers that WsgiDAV cannot imitate (quoted
If-Match, 507 quota, 500 on a forbidden name, Nextcloud's hrefs and props).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
import responses
from responses import matchers

from connectors.nextcloud import NextcloudStore, Permission, Share, ShareType
from connectors.storage import (
    InvalidPath,
    NotFound,
    PreconditionFailed,
    Refused,
    StorageError,
    Unavailable,
)
from tests.webdav_server import Recording, recording

HOST = "http://127.0.0.1:8082"
DAV = f"{HOST}/remote.php/dav/files/accompagnateur"
SHARES = f"{HOST}/ocs/v2.php/apps/files_sharing/api/v1/shares"
APP_PASSWORD = "Kq7rT-app-password-zW3xP"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def store() -> NextcloudStore:
    """The accompagnateur's 'Acceptance' folder, as in the recordings."""
    return NextcloudStore(f"{DAV}/Acceptance", "accompagnateur", APP_PASSWORD)


@pytest.fixture
def home() -> NextcloudStore:
    """The accompagnateur's whole home folder."""
    return NextcloudStore(DAV, "accompagnateur", APP_PASSWORD)


def root_is_there(mock: responses.RequestsMock, url: str) -> None:
    """The store's root folder exists (a store looks before its first write; never creates it)."""
    href = urlsplit(url).path
    body = (
        '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response>'
        f"<d:href>{href}</d:href><d:propstat><d:prop><d:resourcetype><d:collection/>"
        "</d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
        "</d:response></d:multistatus>"
    )
    mock.add("PROPFIND", url, body=body, status=207, content_type="application/xml")


def replay(
    mock: responses.RequestsMock,
    rec: Recording,
    *,
    url: str | None = None,
    method: str | None = None,
    match: list[object] | None = None,
) -> None:
    """Answer the next matching request with a recorded answer."""
    content_type = rec.headers.get("Content-Type") or rec.headers.get("Content-type")
    headers = {k: v for k, v in rec.replay_headers().items() if k.lower() != "content-type"}
    mock.add(
        method or rec.method,
        url or HOST + rec.path,
        body=rec.body,
        status=rec.status,
        headers=headers,
        content_type=content_type or "text/plain",
        match=match or [],
    )


def sent_form(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    text = body.decode() if isinstance(body, bytes) else str(body or "")
    return dict(parse_qsl(text))


def sent_sha256(call: responses.Call) -> str:
    body = call.request.body
    data = body if isinstance(body, bytes) else str(body or "").encode()
    return hashlib.sha256(data).hexdigest()


OCS_HEADERS = matchers.header_matcher({"OCS-APIRequest": "true", "Accept": "application/json"})


# -- shares ----------------------------------------------------------------------------


def test_sharing_a_dossier_with_a_candidat_sends_what_nextcloud_expects(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    rec = recording("86")
    replay(
        mocked,
        rec,
        url=SHARES,
        match=[OCS_HEADERS, matchers.query_param_matcher({"format": "json"})],
    )

    share = store.create_share(
        "rapport.docx",
        "candidat1",
        ShareType.USER,
        Permission.READ | Permission.UPDATE | Permission.SHARE,
    )

    # Byte for byte the form body Nextcloud accepted in the recording.
    assert sent_sha256(mocked.calls[0]) == rec.request_sha256
    assert sent_form(mocked.calls[0]) == {
        "path": "/Acceptance/rapport.docx",
        "shareType": "0",
        "shareWith": "candidat1",
        "permissions": "19",
    }
    assert share == Share(
        id="1",
        share_type=0,
        path="/Acceptance/rapport.docx",
        permissions=19,
        share_with="candidat1",
        share_with_displayname="Candidat Un",
        item_type="file",
        token=None,
        url=None,
        expiration=None,
        label="",
    )


def test_sharing_twice_gives_back_the_same_share(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(mocked, recording("87"), url=SHARES)
    share = store.create_share("rapport.docx", "candidat1", permissions=19)
    assert share.id == "1"


def test_a_group_folder_share_matches_the_recorded_request(
    mocked: responses.RequestsMock, home: NextcloudStore
) -> None:
    rec = recording("108")
    replay(mocked, rec, url=SHARES)
    share = home.create_share("Partage candidats", "candidats", ShareType.GROUP, Permission.ALL)
    assert sent_sha256(mocked.calls[0]) == rec.request_sha256
    assert (share.id, share.share_type, share.item_type) == ("4", 1, "folder")
    assert share.path == "/Partage candidats"
    assert home.path_in_store(share.path) == "Partage candidats"


def test_share_paths_map_back_to_store_paths(store: NextcloudStore) -> None:
    assert store.path_in_store("/Acceptance/rapport.docx") == "rapport.docx"
    assert store.path_in_store("/Acceptance") == ""
    assert store.path_in_store("/Autre/rapport.docx") is None
    assert store.path_in_store("/AcceptanceBis/x.docx") is None


def test_a_public_link_has_a_url_and_a_token(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(mocked, recording("88"), url=SHARES)
    share = store.create_share("rapport.docx", None, ShareType.LINK, Permission.READ)
    assert sent_form(mocked.calls[0]) == {
        "path": "/Acceptance/rapport.docx",
        "shareType": "3",
        "permissions": "1",
    }
    assert share.url == "http://127.0.0.1:8082/index.php/s/iafnx9AcC6sGAJA"
    assert share.token == "iafnx9AcC6sGAJA"


def test_a_link_with_password_and_expiry_keeps_the_password_out_of_logs(
    mocked: responses.RequestsMock, store: NextcloudStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    replay(mocked, recording("89"), url=SHARES)
    link_password = "Lien-secret-2027!"

    share = store.create_share(
        "rapport.docx",
        None,
        ShareType.LINK,
        Permission.READ,
        password=link_password,
        expire_date=date(2030, 12, 31),
        label="Lien candidat",
    )

    form = sent_form(mocked.calls[0])
    assert form["password"] == link_password
    assert form["expireDate"] == "2030-12-31"
    assert form["label"] == "Lien candidat"
    assert share.expiration == "2030-12-31 23:59:59"
    assert share.label == "Lien candidat"
    assert link_password not in caplog.text
    assert APP_PASSWORD not in caplog.text


def test_the_shares_of_a_file_are_listed(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(
        mocked,
        recording("90"),
        url=SHARES,
        match=[
            OCS_HEADERS,
            matchers.query_param_matcher(
                {"format": "json", "path": "/Acceptance/rapport.docx", "reshares": "true"}
            ),
        ],
    )
    shares = store.list_shares("rapport.docx")
    assert [(s.id, s.share_type, s.share_with) for s in shares] == [
        ("1", 0, "candidat1"),
        ("2", 3, None),
        ("3", 3, "redacted"),
    ]


def test_all_shares_are_listed_without_a_path(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(mocked, recording("91"), url=SHARES)
    shares = store.list_shares()
    assert shares and all(isinstance(s, Share) for s in shares)
    assert dict(parse_qsl(urlsplit(mocked.calls[0].request.url or "").query)) == {"format": "json"}


def test_one_share_is_read_and_updated(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(mocked, recording("93"), url=f"{SHARES}/1")
    rec = recording("94")
    replay(mocked, rec, url=f"{SHARES}/1")

    assert store.get_share(1).permissions == 19
    updated = store.update_share("1", permissions=Permission.READ)

    assert sent_sha256(mocked.calls[1]) == rec.request_sha256
    assert updated.permissions == 1


def test_deleting_a_share_twice_is_fine(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    ok = b'{"ocs":{"meta":{"status":"ok","statuscode":200,"message":"OK"},"data":[]}}'
    mocked.add("DELETE", f"{SHARES}/7", body=ok, content_type="application/json")
    replay(mocked, recording("106"), url=f"{SHARES}/7", method="DELETE")
    store.delete_share(7)
    store.delete_share("7")
    assert [call.request.method for call in mocked.calls] == ["DELETE", "DELETE"]


@pytest.mark.parametrize(
    ("number", "error", "words"),
    [
        ("99", NotFound, "Please specify a valid account to share with"),
        ("100", NotFound, "Wrong path, file/folder does not exist"),
        ("101", NotFound, "Wrong path, file/folder does not exist"),
        ("102", Refused, "Cannot share with yourself"),
        ("103", StorageError, "Unknown share type"),
        ("104", StorageError, "OCS-APIRequest"),
        ("117", Refused, "app password"),
        ("118", Refused, "app password"),
    ],
)
def test_ocs_errors_carry_nextclouds_message(
    mocked: responses.RequestsMock,
    store: NextcloudStore,
    number: str,
    error: type[StorageError],
    words: str,
) -> None:
    rec = recording(number)
    replay(mocked, rec, url=SHARES, method="POST")
    with pytest.raises(error) as caught:
        store.create_share("rapport.docx", "someone")
    assert words in str(caught.value)
    assert APP_PASSWORD not in str(caught.value)
    if error is StorageError:
        assert not isinstance(caught.value, NotFound | Refused | Unavailable)
    if error is Refused:
        assert caught.value.status in (401, 403)


@pytest.mark.parametrize("number", ["105", "106"])
def test_an_unknown_share_is_not_found_in_json_or_xml(
    mocked: responses.RequestsMock, store: NextcloudStore, number: str
) -> None:
    replay(mocked, recording(number), url=f"{SHARES}/999999")
    with pytest.raises(NotFound, match="Wrong share ID, share does not exist"):
        store.get_share(999999)


def test_an_ocs_server_error_is_worth_retrying(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    mocked.add("GET", SHARES, body="<html>Bad gateway</html>", status=502)
    with pytest.raises(Unavailable):
        store.list_shares()


def test_shares_need_nextcloud() -> None:
    plain = NextcloudStore("http://dav.example.org/dav/Dossiers", "u", "p")
    assert not plain.is_nextcloud
    with pytest.raises(StorageError, match="Nextcloud"):
        plain.create_share("a.docx", "someone")


def test_a_share_id_must_be_a_number(store: NextcloudStore) -> None:
    with pytest.raises(StorageError):
        store.delete_share("1/../../admin")


# -- WebDAV answers as Nextcloud gives them ----------------------------------------------


def test_stat_reads_nextclouds_props(mocked: responses.RequestsMock, store: NextcloudStore) -> None:
    replay(mocked, recording("16"), match=[matchers.header_matcher({"Depth": "0"})])
    item = store.stat("rapport.docx")
    assert item is not None
    assert item.path == "rapport.docx"
    assert item.etag == '"8a7389889129939327d65a1e2acbe68e"'
    assert item.size == 912
    assert item.modified == datetime(2026, 11, 26, 4, 25, 40, tzinfo=UTC)
    assert item.content_type == DOCX
    assert item.file_id == "160"
    assert not item.is_folder


def test_a_missing_file_has_no_stat(mocked: responses.RequestsMock, home: NextcloudStore) -> None:
    replay(mocked, recording("05"))
    assert home.stat("does-not-exist") is None
    assert not home.exists("does-not-exist")


def test_listing_decodes_names_with_accents_and_signs(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(mocked, recording("42"), url=f"{DAV}/Acceptance/")
    listed = store.list()
    assert [(item.path, item.is_folder) for item in listed] == [
        ("50% réussite.docx", False),
        ("Sub", True),
        ("Séance n°1 (l’atelier)", True),
        ("a+b & c.docx", False),
        ("dossier #1.docx", False),
        ("l'entretien d'Amélie.docx", False),
        ("rapport.docx", False),
        ("raw #2.docx", False),
        ("Évaluation finale.docx", False),
        ("Œuvre ç à ü ñ.docx", False),
    ]
    assert {item.file_id for item in listed} >= {"160", "167", "174"}


def test_the_empty_home_folder_with_all_props(
    mocked: responses.RequestsMock, home: NextcloudStore
) -> None:
    # Props Nextcloud lacks come in a 404 propstat, which must be ignored.
    replay(mocked, recording("04"), url=f"{DAV}/")
    assert home.list() == []
    root = home.stat("")
    assert root is not None and root.is_folder
    assert (root.path, root.file_id, root.etag) == ("", "110", '"6b07b4c294de6"')


@pytest.mark.parametrize("number", ["34", "35", "36", "37", "38", "39"])
def test_file_names_are_encoded_like_the_recorded_requests(
    mocked: responses.RequestsMock, store: NextcloudStore, number: str
) -> None:
    rec = recording(number)
    name = unquote(rec.path.rsplit("/", 1)[1])
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(mocked, rec)
    mocked.add("PROPFIND", HOST + rec.path, status=404)

    store.put(name, b"content", content_type=DOCX)

    put = next(call for call in mocked.calls if call.request.method == "PUT")
    assert urlsplit(put.request.url or "").path == rec.path


def test_a_folder_name_is_encoded_like_the_recorded_mkcol(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    rec = recording("41")
    replay(mocked, rec)
    store.make_folder(unquote(rec.path.rsplit("/", 1)[1]))
    assert urlsplit(mocked.calls[0].request.url or "").path == rec.path


def test_a_hash_in_a_name_never_cuts_the_url(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    # Recording 40: an unencoded '#' would drop the rest of the name.
    root_is_there(mocked, f"{DAV}/Acceptance/")
    mocked.add("PUT", f"{DAV}/Acceptance/raw%20%232.docx", status=201)
    mocked.add("PROPFIND", f"{DAV}/Acceptance/raw%20%232.docx", status=404)
    store.put("raw #2.docx", b"x")
    assert mocked.calls[1].request.path_url.endswith("/raw%20%232.docx")


def test_a_decomposed_name_is_sent_composed(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    mocked.add("PUT", f"{DAV}/Acceptance/%C3%89valuation%20finale.docx", status=201)
    mocked.add("PROPFIND", f"{DAV}/Acceptance/%C3%89valuation%20finale.docx", status=404)
    store.put("E\u0301valuation finale.docx", b"x")
    assert mocked.calls[1].request.path_url.endswith("/%C3%89valuation%20finale.docx")


def test_if_match_is_sent_with_its_quotes(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    ok = recording("17")
    assert ok.request_headers["If-Match"] == '"8a7389889129939327d65a1e2acbe68e"'
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(
        mocked, ok, match=[matchers.header_matcher({"If-Match": ok.request_headers["If-Match"]})]
    )
    replay(mocked, recording("20"))

    # The caller may have lost the quotes (recording 19 shows Nextcloud then says 412).
    written = store.put("rapport.docx", b"x" * 903, if_match="8a7389889129939327d65a1e2acbe68e")

    assert written.etag == '"8a7389889129939327d65a1e2acbe68e"'
    assert written.file_id == "160"
    assert written.size == 903


def test_a_stale_etag_is_refused_with_the_current_one(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(mocked, recording("18"))
    with pytest.raises(PreconditionFailed) as caught:
        store.put("rapport.docx", b"x" * 903, if_match='"9c95775c9a2bdc381e322e5df0276c14"')
    assert caught.value.current_etag == '"8a7389889129939327d65a1e2acbe68e"'
    assert "changed" in str(caught.value)


def test_if_none_match_refuses_an_existing_file_and_creates_a_new_one(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    star = matchers.header_matcher({"If-None-Match": "*"})
    replay(mocked, recording("21"), match=[star])
    replay(mocked, recording("22"), match=[star])
    mocked.add("PROPFIND", f"{DAV}/Acceptance/nouveau.docx", status=404)

    with pytest.raises(PreconditionFailed, match="already exists"):
        store.put("rapport.docx", b"x", if_none_match=True)
    created = store.put("nouveau.docx", b"x" * 903, if_none_match=True)
    assert created.etag == '"906e7f8ba885c20a468f2c380280758b"'


def test_over_quota_is_refused_with_status_507(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(mocked, recording("56"), url=f"{DAV}/Acceptance/big.docx")
    with pytest.raises(Refused) as caught:
        store.put("big.docx", b"x" * 154_501)
    assert caught.value.status == 507
    assert "quota" in str(caught.value)


def test_a_forbidden_name_is_not_worth_retrying_even_as_a_500(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(mocked, recording("46"), url=f"{DAV}/Acceptance/web.config")
    with pytest.raises(InvalidPath, match="Invalid path"):
        store.put("web.config", b"x")


def test_names_nextcloud_refuses_are_refused_here_first() -> None:
    for number in ("44", "46", "48", "51"):
        name = unquote(recording(number).path.split("/Acceptance/", 1)[1])
        with pytest.raises(InvalidPath):
            NextcloudStore(f"{DAV}/Acceptance", "u", "p").put(name, b"x")


def test_a_server_invalid_path_answer_becomes_invalid_path(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(mocked, recording("44"), url=f"{DAV}/Acceptance/odd.docx")
    with pytest.raises(InvalidPath, match="not allowed inside a file or folder name"):
        store.put("odd.docx", b"x")


def test_writing_in_someone_elses_folder_is_refused(
    mocked: responses.RequestsMock,
) -> None:
    other = NextcloudStore(f"{HOST}/remote.php/dav/files/candidat1", "accompagnateur", APP_PASSWORD)
    root_is_there(mocked, f"{HOST}/remote.php/dav/files/candidat1/")
    replay(mocked, recording("66"))
    with pytest.raises(Refused) as caught:
        other.put("intrus.docx", b"x")
    assert caught.value.status == 403
    assert "Permission denied" in str(caught.value)


@pytest.mark.parametrize("number", ["114", "115", "116"])
def test_bad_credentials_are_refused_without_showing_them(
    mocked: responses.RequestsMock, home: NextcloudStore, number: str
) -> None:
    replay(mocked, recording(number), url=f"{DAV}/")
    with pytest.raises(Refused) as caught:
        home.list()
    assert caught.value.status == 401
    assert "accompagnateur" in str(caught.value)
    assert APP_PASSWORD not in str(caught.value)
    assert APP_PASSWORD not in repr(caught.value)


def test_move_sends_an_encoded_absolute_destination_and_refuses_to_overwrite(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    root_is_there(mocked, f"{DAV}/Acceptance/")
    replay(
        mocked,
        recording("26"),
        match=[
            matchers.header_matcher(
                {"Destination": f"{DAV}/Acceptance/rapport.docx", "Overwrite": "F"}
            )
        ],
    )
    with pytest.raises(PreconditionFailed, match="already exists"):
        store.move("nouveau.docx", "rapport.docx")


def test_move_into_a_folder(mocked: responses.RequestsMock, store: NextcloudStore) -> None:
    mocked.add("MKCOL", f"{DAV}/Acceptance/Sub", status=405)
    replay(
        mocked,
        recording("27"),
        match=[matchers.header_matcher({"Destination": f"{DAV}/Acceptance/Sub/deplace.docx"})],
    )
    store.move("nouveau.docx", "Sub/deplace.docx")
    move = mocked.calls[-1]
    assert [call.request.method for call in mocked.calls] == ["MKCOL", "MOVE"]
    assert move.request.headers["Destination"] == f"{DAV}/Acceptance/Sub/deplace.docx"
    assert move.request.headers["Overwrite"] == "F"
    assert move.response is not None and move.response.status_code == 201


def test_delete_of_a_missing_file_is_fine(
    mocked: responses.RequestsMock, store: NextcloudStore
) -> None:
    replay(mocked, recording("32"))
    replay(mocked, recording("33"))
    # The second DELETE finds nothing (404): no error either time.
    assert store.delete("mtime.docx") is None
    assert store.delete("mtime.docx") is None
    assert [(call.request.method, call.response.status_code) for call in mocked.calls] == [
        ("DELETE", 204),
        ("DELETE", 404),
    ]


def test_web_url_uses_the_file_id(mocked: responses.RequestsMock, store: NextcloudStore) -> None:
    replay(mocked, recording("16"))
    assert store.web_url("rapport.docx") == f"{HOST}/index.php/f/160"


def test_a_connection_error_is_unavailable(store: NextcloudStore) -> None:
    session = requests.Session()

    def refuse(*args: object, **kwargs: object) -> requests.Response:
        raise requests.ConnectionError("Connection refused")

    session.request = refuse  # type: ignore[method-assign]
    broken = NextcloudStore(f"{DAV}/Acceptance", "accompagnateur", APP_PASSWORD, session=session)
    with pytest.raises(Unavailable, match="connection refused"):
        broken.get("rapport.docx")
