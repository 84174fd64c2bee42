"""A browser made of Django test clients, one per host, so cookies stay host-only as a real
browser keeps them, and redirects are followed from one host to another."""

from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.test import Client


class Browser:
    """Follows redirects across the public site and organization hosts; each host sees only
    the cookies it set itself."""

    def __init__(self, **defaults: str) -> None:
        self._defaults = defaults
        self._clients: dict[str, Client] = {}
        self.url = ""

    def client(self, host: str) -> Client:
        """The cookie jar (and client) of one host name, made on first use."""
        host = host.split(":", 1)[0]
        if host not in self._clients:
            self._clients[host] = Client(HTTP_HOST=host, **self._defaults)
        return self._clients[host]

    def get(self, url: str, *, until: Callable[[str], bool] | None = None) -> HttpResponse:
        """GET `url` and follow redirects; stop before requesting a URL that `until` picks
        (`self.url` is then that URL, and the redirect that named it is returned)."""
        return self._follow(self._absolute(url), "GET", {}, until)

    def post(self, url: str, data: dict[str, str]) -> HttpResponse:
        """POST a form to `url`, then follow redirects as `get` does."""
        return self._follow(self._absolute(url), "POST", data, None)

    def cookie(self, host: str, name: str) -> str | None:
        morsel = self.client(host).cookies.get(name)
        return morsel.value if morsel is not None and morsel.value else None

    def _absolute(self, url: str) -> str:
        if urlsplit(url).scheme:
            return url
        base = self.url or f"http://{settings.BASE_DOMAIN}/"
        return urljoin(base, url)

    def _follow(
        self, url: str, method: str, data: dict[str, str], until: Callable[[str], bool] | None
    ) -> HttpResponse:
        response: HttpResponse | None = None
        for _ in range(10):
            if until is not None and until(url):
                self.url = url
                assert response is not None, "stopped before the first request"
                return response
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            client = self.client(parts.netloc)
            response = client.post(path, data) if method == "POST" else client.get(path)
            self.url = url
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            url, method, data = urljoin(url, response["Location"]), "GET", {}
        raise AssertionError(f"more than 10 redirects, the last to {url}")
