"""A tiny API for the fetch-auth example: answers /repos, and says whether the bearer token matched."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

TOKEN = "local-demo-token"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        authorized = self.headers.get("authorization") == f"Bearer {TOKEN}"
        body = json.dumps({"authorized": authorized, "items": [{"name": "pipedreamer", "stars": 42}, {"name": "quickjs", "stars": 7}]}).encode()
        self.send_response(200 if authorized else 401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
