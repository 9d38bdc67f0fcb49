"""The node's libp2p side: host, capability-ad gossip, task and training streams."""
