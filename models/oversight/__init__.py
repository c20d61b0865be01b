"""What supervisors read: assignments as of a date, agency scorecards and their ratings."""
