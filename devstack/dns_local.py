"""A small local DNS server (dnslib) that answers TXT and A queries from a JSON file of
records, re-read on every query, so a test or a demo changes the records by rewriting it.

    python -m devstack.dns_local --records records.json [--port 0]

The file maps a name to its TXT strings: {"_mycrm-challenge.example.com": ["mycrm-verify=…"]}.
It prints `listening on <port>` once it serves (port 0 takes a free one), on 127.0.0.1 UDP.
Unknown names get NXDOMAIN.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class FileResolver(BaseResolver):
    def __init__(self, path: Path):
        self.path = path

    def _records(self) -> dict[str, list[str]]:
        try:
            loaded = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return {str(k).lower().rstrip("."): list(v) for k, v in loaded.items()}

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        records = self._records()
        if name not in records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for value in records[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
        return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args()
    server = DNSServer(
        FileResolver(args.records),
        port=args.port,
        address=args.address,
        logger=DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False),
    )
    server.start_thread()
    print(f"listening on {server.server.server_address[1]}", flush=True)
    try:
        while server.isAlive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
