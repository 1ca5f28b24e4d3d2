"""The load harness behind `make bench`: seed, start the native stack, load it with wrk, report."""
