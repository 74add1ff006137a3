"""Proto <-> format v1 for application records: the platform's shared conversion."""

from subsidy_platform.application_proto import (
    CHANNEL_CODES,
    CHANNELS,
    record_from_proto,
    record_to_proto,
)

__all__ = ["CHANNELS", "CHANNEL_CODES", "record_from_proto", "record_to_proto"]
