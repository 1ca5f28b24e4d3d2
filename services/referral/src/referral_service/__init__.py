"""referral service."""
