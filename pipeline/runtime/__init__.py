"""The machine a command runs on: its process set-up (process), the distribution strategy (distribute)
and the dtype policy train.precision resolves to (dtype_policy)."""
