"""The web layer: the callback endpoint, the admin API (`api/`) and the pages (`pages/`),
one blueprint per area."""
