"""The three one-hop forwarders, each run as its own OS process by the bench."""
