"""The profile service: one user's profile, aggregated from the auth and referral services."""
