"""The confidence gate: policy, signals, decisions and approvals for actions that act."""
