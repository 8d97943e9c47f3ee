"""The .qwc file a tenant's admin downloads and opens in the Web Connector
(docs/reference/quickbooks-desktop.md#the-qwc-file). The password is never in it: the user types
it into the Web Connector."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from qb_sync.qbd.queue import QbdConnection
from qb_sync.qbd.settings import QbdSettings


def render_qwc(connection: QbdConnection, settings: QbdSettings) -> bytes:
    root = ET.Element("QBWCXML")
    for tag, value in (
        ("AppName", f"{settings.qbd_app_name} ({connection.username})"),
        ("AppID", ""),
        ("AppURL", f"{settings.qbd_public_url}/qbwc"),
        ("AppDescription", "Imports, links and pushes customers of the Customer Platform"),
        ("AppSupport", f"{settings.qbd_public_url}/qbwc/support"),
        ("UserName", connection.username),
        ("OwnerID", connection.owner_id),
        ("FileID", connection.file_id),
        ("QBType", "QBFS"),
        ("IsReadOnly", "false"),  # we write customers
        ("PersonalDataPref", "pdpOptional"),
        ("UnattendedModePref", "umpOptional"),
    ):
        ET.SubElement(root, tag).text = value
    scheduler = ET.SubElement(root, "Scheduler")
    ET.SubElement(scheduler, "RunEveryNMinutes").text = "60"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
