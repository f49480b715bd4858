package core

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/go-units"
)

// LimitError is a step that one of its limits stopped: the kernel killed
// a process for want of memory (memory), or a fork failed because the
// step had as many processes as it may (pids). The step's container is
// killed as soon as either is seen, so a fork bomb or a runaway
// allocation ends at once instead of at the timeout.
type LimitError struct {
	Resource string // "memory" or "pids"
	Limit    int64  // bytes for memory, processes for pids
}

func (e *LimitError) Error() string {
	if e.Resource == "memory" {
		return "ran out of memory (limit " + units.BytesSize(float64(e.Limit)) + ")"
	}
	return fmt.Sprintf("reached its process limit (limit %d processes)", e.Limit)
}

// cgroupRoot is where the kernel's cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// limitCounters reads a container's cgroup: how many of its processes the
// kernel killed for want of memory, and how many forks failed at its pids
// limit. Both counters only grow. cgroupsPath is the spec's CgroupsPath
// (paas's own "/<namespace>/<container id>"); a file that cannot be read
// (another cgroup layout, a cgroup already gone) counts as 0.
func limitCounters(cgroupsPath string) (oomKills, pidsMax int64) {
	if cgroupsPath == "" || strings.Contains(cgroupsPath, ":") {
		return 0, 0 // systemd's slice:prefix:name form: not ours
	}
	rel := filepath.Clean("/" + cgroupsPath)
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		// cgroup v2: one hierarchy.
		dir := filepath.Join(cgroupRoot, rel)
		return flatKey(filepath.Join(dir, "memory.events"), "oom_kill"), flatKey(filepath.Join(dir, "pids.events"), "max")
	}
	return flatKey(filepath.Join(cgroupRoot, "memory", rel, "memory.oom_control"), "oom_kill"),
		flatKey(filepath.Join(cgroupRoot, "pids", rel, "pids.events"), "max")
}

// flatKey reads the value of key in a cgroup file of "key value" lines.
func flatKey(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// limitHit tells which limit a step reached, if any, from its counters.
func limitHit(cgroupsPath string, l Limits) *LimitError {
	oom, pids := limitCounters(cgroupsPath)
	switch {
	case oom > 0:
		return &LimitError{Resource: "memory", Limit: l.Memory}
	case pids > 0:
		return &LimitError{Resource: "pids", Limit: l.Pids}
	}
	return nil
}
