"""The working-day calendar and an installation's time rules (Civil Code 2015, Art. 147-148)."""
