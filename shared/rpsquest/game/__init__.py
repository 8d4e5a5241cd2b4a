"""Game domain: rules, gambits, bot policies and the legacy bots."""
