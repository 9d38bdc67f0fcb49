"""Collaboration: choosing which peer answers, and combining several peers' answers."""
