"""API drift: shapes inferred from recorded answers (samples, shapes), compared (compare), reported (render).

`tradetape drift OLD NEW` is proxy/cli/drift.py; `tradetape record --drift-against` adds watch.py's addon.
"""
