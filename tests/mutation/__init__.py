"""`make mutate`: break each promise on purpose, in a copy of the tree, and watch a test fail."""
