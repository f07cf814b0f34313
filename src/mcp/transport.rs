//! Streamable HTTP decisions that come before any JSON-RPC: whose browser may call, and which
//! protocol revision a request speaks. Pure.

use super::version::ProtocolVersion;

/// Whether a request with this `Origin` may use the endpoint. Browsers always send `Origin`
/// on a cross-site POST; a page on another origin (DNS rebinding onto a local server among
/// them) is refused. No header means no browser: agents, SDKs and curl are let through.
pub fn origin_allowed(origin: Option<&str>, own_origin: &str) -> bool {
    match origin.map(str::trim) {
        None => true,
        Some(origin) => origin
            .trim_end_matches('/')
            .eq_ignore_ascii_case(own_origin.trim_end_matches('/')),
    }
}

/// The revision named by `MCP-Protocol-Version`, or 2025-03-26 when absent (as the
/// transport spec asks); an unsupported one is the client's error (400).
pub fn header_version(header: Option<&str>) -> Result<ProtocolVersion, String> {
    match header.map(str::trim) {
        None => Ok(ProtocolVersion::WITHOUT_HEADER),
        Some(value) => ProtocolVersion::parse(value).ok_or_else(|| {
            format!(
                "unsupported MCP-Protocol-Version '{value}'; supported: {}",
                ProtocolVersion::supported_list()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_workers_own_origin_or_none() {
        let own = "http://127.0.0.1:8787";
        assert!(origin_allowed(None, own));
        assert!(origin_allowed(Some("http://127.0.0.1:8787"), own));
        assert!(origin_allowed(Some("HTTP://127.0.0.1:8787/"), own));
        for foreign in [
            "http://evil.example",
            "http://127.0.0.1:8788",
            "https://127.0.0.1:8787",
            "http://localhost:8787",
            "null",
            "",
        ] {
            assert!(!origin_allowed(Some(foreign), own), "{foreign}");
        }
    }

    #[test]
    fn protocol_version_header() {
        assert_eq!(header_version(None), Ok(ProtocolVersion::V2025_03_26));
        assert_eq!(
            header_version(Some("2025-06-18")),
            Ok(ProtocolVersion::V2025_06_18)
        );
        assert_eq!(
            header_version(Some("2025-11-25")),
            Ok(ProtocolVersion::V2025_11_25)
        );
        let err = header_version(Some("2024-11-05")).unwrap_err();
        assert!(
            err.contains("2024-11-05") && err.contains("2025-11-25"),
            "{err}"
        );
        assert!(header_version(Some("")).is_err());
    }
}
