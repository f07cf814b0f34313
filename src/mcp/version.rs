//! The MCP protocol revisions this server speaks, and what differs between them here.

/// A protocol revision, oldest first (so `Ord` is age).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProtocolVersion {
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
}

impl ProtocolVersion {
    pub const ALL: [ProtocolVersion; 3] = [
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
    ];
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2025_11_25;
    /// What the transport spec tells a server to assume when a request carries no
    /// `MCP-Protocol-Version` header (the header arrived with 2025-06-18).
    pub const WITHOUT_HEADER: ProtocolVersion = ProtocolVersion::V2025_03_26;

    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// `initialize`: the client's revision if we speak it, else our latest (the client then
    /// decides whether it can go on).
    pub fn negotiate(requested: &str) -> Self {
        Self::parse(requested).unwrap_or(Self::LATEST)
    }

    /// JSON-RPC batches were part of 2025-03-26 and removed in 2025-06-18.
    pub fn allows_batches(self) -> bool {
        self == ProtocolVersion::V2025_03_26
    }

    /// 2025-11-25 (SEP-1303) moved tool arguments that fail the input schema from a `-32602`
    /// protocol error to a tool result with `isError`, so the model can read it and retry.
    pub fn argument_errors_are_tool_results(self) -> bool {
        self >= ProtocolVersion::V2025_11_25
    }

    /// "2025-03-26, 2025-06-18, 2025-11-25", for error messages.
    pub fn supported_list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_a_supported_version_else_offers_the_latest() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::negotiate(v.as_str()), v);
        }
        for other in ["2024-11-05", "2026-01-01", "", "latest", "2025-11-25 "] {
            assert_eq!(ProtocolVersion::negotiate(other), ProtocolVersion::LATEST);
        }
        assert_eq!(ProtocolVersion::LATEST.as_str(), "2025-11-25");
    }

    #[test]
    fn batches_only_in_2025_03_26() {
        assert!(ProtocolVersion::V2025_03_26.allows_batches());
        assert!(!ProtocolVersion::V2025_06_18.allows_batches());
        assert!(!ProtocolVersion::V2025_11_25.allows_batches());
        assert!(ProtocolVersion::WITHOUT_HEADER.allows_batches());
    }

    #[test]
    fn argument_errors_moved_to_tool_results_in_2025_11_25() {
        assert!(!ProtocolVersion::V2025_03_26.argument_errors_are_tool_results());
        assert!(!ProtocolVersion::V2025_06_18.argument_errors_are_tool_results());
        assert!(ProtocolVersion::V2025_11_25.argument_errors_are_tool_results());
    }
}
