"""Local stand-ins for Mission Control's upstream services (stdlib only).

Each stand-in is a threaded HTTP server on 127.0.0.1 with an OS-chosen port:

    with GitHubStandIn() as gh, DocsMcpStandIn(corpus) as docs, ModelStandIn() as ai:
        ...  # point CORE_GITHUB_API / the docs MCP URL / the model base URL at gh.url etc.
"""

from .docs_mcp import DocsMcpStandIn
from .github import GitHubStandIn, blob_sha, github_base64
from .model import ModelStandIn
from .server import Call, Response, StandIn

__all__ = [
    "Call",
    "DocsMcpStandIn",
    "GitHubStandIn",
    "ModelStandIn",
    "Response",
    "StandIn",
    "blob_sha",
    "github_base64",
]
