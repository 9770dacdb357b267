//! Prophet-style decomposable model (below).
