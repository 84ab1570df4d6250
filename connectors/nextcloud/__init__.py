"""Nextcloud (and plain WebDAV) storage, and Nextcloud shares (the library's public interface).

- :mod:`.store`: :class:`NextcloudStore`, a :class:`~connectors.storage.Store` on a WebDAV folder;
- :mod:`.shares`: shares through the OCS API (:class:`Share`, :class:`Permission`…);
- :mod:`.client`: addresses, requests, timeouts and error texts;
- :mod:`.protocol`: bodies, ETags and XML answers.
"""

from __future__ import annotations

from connectors.nextcloud.protocol import DEFAULT_TIMEOUT
from connectors.nextcloud.shares import Permission, Share, ShareType
from connectors.nextcloud.store import NextcloudStore

__all__ = ["DEFAULT_TIMEOUT", "NextcloudStore", "Permission", "Share", "ShareType"]
