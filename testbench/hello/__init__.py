"""The smallest testbench: proves the runner builds once and runs several test modules."""
