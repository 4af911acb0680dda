"""The FX rule of the margin: `pricing.fx` (moved to the kernel in issue 18 so cost-plus prices
convert with the same rule); re-exported here for analytics' callers."""

from pricing.fx import FxConversion, RateRow, choose_conversion

__all__ = ["FxConversion", "RateRow", "choose_conversion"]
