"""The small documentation corpus the docs MCP stand-in serves in the tests."""

D1_PREPARED = "https://developers.cloudflare.com/d1/worker-api/prepared-statements/"
D1_BATCH = "https://developers.cloudflare.com/d1/worker-api/d1-database/#batch"
KV_API = "https://developers.cloudflare.com/kv/api/read-key-value-pairs/"
WEBSOCKETS = "https://developers.cloudflare.com/workers/runtime-apis/websockets/"

CORPUS = [
    {"url": D1_PREPARED, "title": "D1 prepared statements",
     "text": "Bind parameters to a D1 prepared statement with stmt.bind(). Use env.DB.prepare(query).bind(value) then run, all or first."},
    {"url": D1_PREPARED + "#first", "title": "D1 prepared statements: first()",
     "text": "first() returns the first row of a D1 query, or null when the query returns no rows."},
    {"url": D1_BATCH, "title": "D1 batch statements",
     "text": "db.batch() sends several D1 prepared statements in one round trip; they run as a transaction."},
    {"url": KV_API, "title": "Workers KV read key-value pairs",
     "text": "Read a value from a KV namespace with env.NAMESPACE.get(key)."},
    {"url": WEBSOCKETS, "title": "WebSockets in Workers",
     "text": "Stream results to a client over a WebSocket with a WebSocketPair in a Worker."},
]
