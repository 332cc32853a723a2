"""The Python SDK peer of the end-to-end suite: an MCP client on the official `mcp` package that
supports form elicitation only, so scopeup must answer with the link in the tool result.

It is driven over stdin/stdout by `scenarios.mjs`: each line on stdin is a JSON command
(`{"call": name, "arguments": {...}}` or `{"quit": true}`), each answer one JSON line on stdout:
`{"protocol": ..., "capabilities": ...}` once connected, then per call
`{"isError": bool, "text": str, "structured": {...} | null}`.
"""

from __future__ import annotations

import json
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client


class FormOnlySession(ClientSession):
    """A session whose elicitation capability is form mode only.

    The SDK advertises form and URL mode together whenever an elicitation callback is set, and has
    no public switch for one mode; a client that cannot open links narrows the ad like this.
    """

    def _build_capabilities(self, version: str) -> types.ClientCapabilities:
        capabilities = super()._build_capabilities(version)
        if capabilities.elicitation is not None:
            capabilities.elicitation = types.ElicitationCapability(form=types.FormElicitationCapability())
        return capabilities


class FormOnlyClient(Client):
    async def _build_session(self, exit_stack: AsyncExitStack) -> ClientSession:
        session = await super()._build_session(exit_stack)
        session.__class__ = FormOnlySession
        return session


async def decline_forms(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """No form is expected from scopeup; answering one would be a test failure."""
    emit({"unexpectedElicitation": params.model_dump(mode="json", by_alias=True)})
    return types.ElicitResult(action="decline")


def emit(value: Any) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


async def main() -> None:
    url, token = sys.argv[1], sys.argv[2]
    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30)
    async with http, FormOnlyClient(
        streamable_http_client(url, http_client=http),
        elicitation_callback=decline_forms,
        client_info=types.Implementation(name="scopeup-e2e-python", version="1.0.0"),
    ) as client:
        capabilities = client.session._build_capabilities(client.protocol_version)
        emit(
            {
                "protocol": client.protocol_version,
                "capabilities": capabilities.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
        )
        stdin = anyio.wrap_file(sys.stdin)
        async for line in stdin:
            command = json.loads(line)
            if command.get("quit"):
                break
            result = await client.call_tool(command["call"], command.get("arguments", {}))
            emit(
                {
                    "isError": bool(result.is_error),
                    "text": "\n".join(block.text for block in result.content if block.type == "text"),
                    "structured": result.structured_content,
                }
            )


if __name__ == "__main__":
    anyio.run(main)
