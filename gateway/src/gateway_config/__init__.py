"""The gateway: its public rules (`rules`), its nginx template rendered natively (`render`)."""
