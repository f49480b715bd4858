// Package runtime holds paas's runtime benchmarks: instance start latency
// against ctr run of the same image, and scaling 1→8 against 1→2. Run
// them with bench/runtime/run.sh (as root: it starts a private containerd).
package runtime
