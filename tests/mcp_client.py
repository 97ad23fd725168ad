"""Drives `shards mcp` with the official MCP Python SDK, as an agent would.

Usage: python mcp_client.py SHARDS_BINARY REPOSITORY
Prints one JSON document with what the server answered; the Rust test
(tests/mcp.rs) checks it.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


def healthy_server(port):
    """A server on 127.0.0.1:port answering 200 at /healthz, in a thread."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = HTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def main(shards: str, repo: str) -> None:
    params = StdioServerParameters(command=shards, args=["mcp"], cwd=repo, env=dict(os.environ))
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            out["server"] = init.server_info.name
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            out["schemas"] = {t.name: t.input_schema for t in tools.tools}

            async def call(name, args):
                r = await session.call_tool(name, args)
                text = "".join(getattr(c, "text", "") for c in r.content)
                return {"is_error": bool(r.is_error), "structured": r.structured_content, "text": text}

            out["create"] = await call("create_shard", {"name": "agent-1"})
            wt = out["create"]["structured"]["shard"]["path"]
            out["get_port"] = await call("get_port", {"services": ["web", "api"], "shard": "agent-1"})
            out["get_port_again"] = await call("get_port", {"services": ["web"], "repo": wt})
            out["env"] = await call("shard_env", {"shard": "agent-1"})
            out["list"] = await call("list_shards", {})
            out["status"] = await call("port_status", {})
            # Described services (issue 21): a description with get_port,
            # update_port, and port_summary; the health path asked of a real
            # server on the shard's web port.
            out["get_port_described"] = await call(
                "get_port", {"services": ["db"], "shard": "agent-1", "description": "Postgres"})
            out["update_port"] = await call("update_port", {
                "service": "web", "shard": "agent-1",
                "description": "Frontend dev server", "health": "/healthz"})
            out["update_udp"] = await call(
                "update_port", {"service": "db", "shard": "agent-1", "protocol": "udp"})
            out["update_missing"] = await call(
                "update_port", {"service": "nope", "shard": "agent-1", "description": "x"})
            out["update_bad_protocol"] = await call(
                "update_port", {"service": "web", "shard": "agent-1", "protocol": "sctp"})
            out["summary"] = await call("port_summary", {"shard": "agent-1"})
            web = out["get_port"]["structured"]["services"][0]["port"]
            server = healthy_server(web)
            out["status_health"] = await call("port_status", {})
            server.shutdown()
            # Malformed: services must be a list of names.
            try:
                out["malformed"] = await call("get_port", {"services": 42})
            except MCPError as e:
                out["malformed"] = {"protocol_error": str(e)}
            try:
                out["unknown_tool"] = await call("no_such_tool", {})
            except MCPError as e:
                out["unknown_tool"] = {"protocol_error": str(e)}
            # Error cases carry the CLI's message.
            out["bad_name"] = await call("create_shard", {"name": "../escape"})
            # A huge bad value comes back as a short prefix and its size.
            out["huge_name"] = await call("create_shard", {"name": "a" * 1_000_000})
            with open(os.path.join(wt, "wip.txt"), "w") as f:
                f.write("agent work in progress\n")
            out["destroy_dirty"] = await call("destroy_shard", {"name": "agent-1"})
            out["destroy_forced"] = await call("destroy_shard", {"name": "agent-1", "force": True})
            out["list_after"] = await call("list_shards", {})
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
