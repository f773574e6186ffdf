"""HTTP surface, one blueprint per area: hooks (providers), events (admin API), health."""
