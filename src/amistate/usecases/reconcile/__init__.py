"""The reconciler: a scheduled, level-triggered resync that converges every
preset on what Image Builder and EC2 hold (see docs/operations.md)."""
