"""The newsroom's window: pages, a JSON API and the operations endpoints, as one ASGI app.

``create_app(WebContext(...))`` builds it; the daemon serves it on its own
event loop, ``monitor web`` over a database alone (see docs/web.md).
"""

from monitor.web.app import create_app
from monitor.web.context import Limits, WebContext

__all__ = ["Limits", "WebContext", "create_app"]
