"""Connectors: talking to other systems (Moodle, Nextcloud WebDAV, a local folder)."""
