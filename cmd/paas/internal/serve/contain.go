package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"paas/runtime"
)

// containment is how paas contains apps and builds on this machine.
type containment struct {
	userNS   runtime.IDMap
	features []runtime.Feature
	missing  []string // names of the features the kernel lacks
}

// checkContainment tries the kernel's features for the user namespace of
// s, in a scratch directory beside the data directory (the filesystem of
// containerd's snapshots, usually).
func checkContainment(s Settings) (containment, error) {
	m, err := runtime.ParseIDMap(s.UserNSRange)
	if err != nil {
		return containment{}, err
	}
	dir := s.DataDir
	for !fileExists(dir) && dir != "/" {
		dir = filepath.Dir(dir)
	}
	c := containment{userNS: m, features: runtime.CheckKernel(dir, m)}
	for _, f := range c.features {
		if !f.OK {
			c.missing = append(c.missing, f.Name)
		}
	}
	return c, nil
}

// contained says whether containers get a user namespace: the kernel has
// what it needs.
func (c containment) contained() bool { return len(c.missing) == 0 }

// refusal is why builds are refused, or "" when they may run: the kernel
// lacks what containment needs and the operator did not allow running
// uncontained.
func (c containment) refusal(s Settings) string {
	if c.contained() || s.AllowUncontained {
		return ""
	}
	return fmt.Sprintf("this kernel lacks %s, needed to keep a build's root from being the host's root; "+
		"untrusted builds are refused (paas doctor says more; set allow-uncontained only if every user is trusted)",
		strings.Join(c.missing, " and "))
}

func isRoot() bool { return os.Geteuid() == 0 }
