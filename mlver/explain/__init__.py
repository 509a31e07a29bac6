"""``mlver explain``: replaying a version with one input swapped, and attributing the change."""
