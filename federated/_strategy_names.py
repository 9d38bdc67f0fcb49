"""The aggregation strategies a run may name, apart from the strategies themselves:
validating a run request must not import Flower."""

STRATEGY_NAMES = ("fedavg", "trimmed", "median", "multikrum", "reputation")
