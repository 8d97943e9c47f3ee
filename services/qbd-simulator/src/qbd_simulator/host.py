"""What the Web Connector sends with the first sendRequestXML of a session (`strHCPResponse`): the
answers to HostQuery, CompanyQuery (with our FileID DataExt) and PreferencesQuery."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from qbd_simulator.qbxml import SUPPORTED_VERSIONS, render_response


def _rs(tag: str) -> ET.Element:
    return ET.Element(
        tag, requestID="0", statusCode="0", statusSeverity="Info", statusMessage="Status OK"
    )


def hcp_response(company_name: str, data_ext: dict[tuple[str, str], str]) -> str:
    host = _rs("HostQueryRs")
    ret = ET.SubElement(host, "HostRet")
    for tag, value in (
        ("ProductName", "QuickBooks Premier Edition 2018"),
        ("MajorVersion", "28"),
        ("MinorVersion", "0"),
        ("Country", "US"),
    ):
        ET.SubElement(ret, tag).text = value
    for version in SUPPORTED_VERSIONS:
        ET.SubElement(ret, "SupportedQBXMLVersion").text = version
    ET.SubElement(ret, "IsAutomaticLogin").text = "false"
    ET.SubElement(ret, "QBFileMode").text = "SingleUser"
    company = _rs("CompanyQueryRs")
    company_ret = ET.SubElement(company, "CompanyRet")
    ET.SubElement(company_ret, "IsSampleCompany").text = "false"
    ET.SubElement(company_ret, "CompanyName").text = company_name
    for (owner_id, name), value in sorted(data_ext.items()):
        ext = ET.SubElement(company_ret, "DataExtRet")
        ET.SubElement(ext, "OwnerID").text = owner_id
        ET.SubElement(ext, "DataExtName").text = name
        ET.SubElement(ext, "DataExtType").text = "STR255TYPE"
        ET.SubElement(ext, "DataExtValue").text = value
    preferences = _rs("PreferencesQueryRs")
    ET.SubElement(ET.SubElement(preferences, "PreferencesRet"), "MultiCurrencyPreferences")
    return render_response([host, company, preferences])
