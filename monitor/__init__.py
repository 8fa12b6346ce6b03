"""news-monitor: watch news, match rules, record hits, alert people."""

__version__ = "0.1.0"
