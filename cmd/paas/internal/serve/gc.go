package serve

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// tuneGC trades memory for proxy CPU when the operator has not tuned the
// garbage collector (GOGC, GOMEMLIMIT): the router's live heap is small and
// its allocation rate high, so at Go's default (GOGC=100) it collects many
// times a second. GOGC=400 took about 10% off the router's CPU per request
// (bench/router/run.sh); a soft memory limit keeps a large routing table
// from growing the heap to five times its size unchecked.
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	const limit = 1 << 30
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(limit)
	log.Debug("garbage collector tuned for proxying", "gogc", 400, "memory_limit", limit)
}
