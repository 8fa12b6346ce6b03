"""Sources turn bytes into :class:`~monitor.models.Article`s, and do nothing else.

They never match rules, store or notify, so a new kind of source only has to
produce Articles.  ``files`` reads watched folders, ``feeds`` fetches RSS/Atom
over HTTP, ``parse`` turns feed bytes into Articles, ``records`` reads JSON
exports and ``text`` decodes bytes and flattens HTML for all of them.  Nothing is
imported here: a command that needs one module does not pay for the others.
"""
