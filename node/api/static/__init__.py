"""The web console's static bundle (HTML, JS, CSS), shipped as package data; no build step."""
