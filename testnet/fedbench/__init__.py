"""peermind.testnet.fedbench: the federated-router benchmark behind `peermind bench federated`."""
