"""Tools from MCP servers, offered to the Realtime model beside the plugins' tools.

`settings` (the `[mcp.servers.NAME]` tables; imported by voiced.config, so it imports no
SDK), `names` (the function names the model sees), `server` (one supervised server),
`results` (a tool result as the model's output), `confirmation` (the user's yes),
`toolbox` (every tool the model sees, and the calls).
"""
