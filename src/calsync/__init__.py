"""calsync: an iCal channel-sync daemon. No double bookings, no lost bookings."""

__version__ = "0.1.0"
