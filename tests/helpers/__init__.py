"""What the tests share: running the suite's programs, the server matrix, test servers and
peers, synthetic results and the SSH lab. Test modules import from here, never from each
other."""
