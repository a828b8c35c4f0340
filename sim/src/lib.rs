//! vstp-sim: the simulated cluster vstp runs against when no real cluster is at hand.
//!
//! The API server, the KubeVirt/NMState/network controllers and the SSH-reachable guests
//! arrive with the simulator issues; the crate exists now so that the workspace boundary
//! (nothing under `src/` but the target bootstrap may depend on it) is fixed from day one.
