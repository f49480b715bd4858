package serve

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"paas/builder"
	"paas/controller"
)

// Limits are the operator's quotas: what one instance, one build, one app
// and one user may take. Defaults suit a small shared install (see the
// README's "Limits" section for why each is what it is).
type Limits struct {
	InstanceMemory      byteSize // default per instance; 0: none
	InstanceMaxMemory   byteSize
	InstanceCPU         float64 // cores; default per instance; 0: none
	InstanceMaxCPU      float64
	InstancePids        int64 // default per instance
	InstanceMaxPids     int64
	MaxProcessInstances int
	MaxAppInstances     int // 0: only the per-type limit
	BuildMemory         byteSize
	BuildCPU            float64
	BuildPids           int64
	BuildTimeout        time.Duration
	BuildOutputLimit    byteSize
	UserAppLimit        int // 0: none
}

func (l *Limits) register(fs *pflag.FlagSet) {
	l.InstanceMemory, l.InstanceMaxMemory = 512<<20, 4<<30
	l.BuildMemory, l.BuildOutputLimit = 2<<30, 10<<20
	fs.Var(&l.InstanceMemory, "instance-memory", "memory of an instance whose process type sets none (and of paas run and release commands): 512M, 1G...; 0 for no limit")
	fs.Var(&l.InstanceMaxMemory, "instance-max-memory", "the most memory a user may give one instance")
	fs.Float64Var(&l.InstanceCPU, "instance-cpu", 1, "CPU cores of an instance whose process type sets none; 0 for no limit")
	fs.Float64Var(&l.InstanceMaxCPU, "instance-max-cpu", 2, "the most CPU cores a user may give one instance")
	fs.Int64Var(&l.InstancePids, "instance-pids", 2048, "processes (and threads) of an instance whose process type sets none")
	fs.Int64Var(&l.InstanceMaxPids, "instance-max-pids", 4096, "the most processes (and threads) a user may give one instance")
	fs.IntVar(&l.MaxProcessInstances, "max-process-instances", 20, "the most instances of one process type of an app")
	fs.IntVar(&l.MaxAppInstances, "max-app-instances", 50, "the most instances of one app, all process types together; 0 for no limit beyond the per-type one")
	fs.Var(&l.BuildMemory, "build-memory", "memory of each build step (RUN, buildpack); a step past it fails the push with \"build ran out of memory\"")
	fs.Float64Var(&l.BuildCPU, "build-cpu", 2, "CPU cores of each build step")
	fs.Int64Var(&l.BuildPids, "build-pids", 1024, "the most processes (and threads) in a build step; a step that reaches it (a fork bomb) fails the push")
	fs.DurationVar(&l.BuildTimeout, "build-timeout", 30*time.Minute, "wall-clock limit of a whole build")
	fs.Var(&l.BuildOutputLimit, "build-output-limit", "the most build output kept (and sent to the pusher) per build; the rest is dropped, with a line saying so")
	fs.IntVar(&l.UserAppLimit, "user-app-limit", 10, "how many apps a user may own unless an admin sets their own limit (paas users:limits); admins have none; 0 for no limit")
}

func (l Limits) check() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	const minMemory = 16 << 20
	for _, m := range []struct {
		name string
		v    byteSize
		zero bool
	}{{"instance-memory", l.InstanceMemory, true}, {"instance-max-memory", l.InstanceMaxMemory, false},
		{"build-memory", l.BuildMemory, false}} {
		if (m.v != 0 || !m.zero) && m.v < minMemory {
			bad("%s must be at least 16M", m.name)
		}
	}
	if l.InstanceMemory > l.InstanceMaxMemory {
		bad("instance-memory (%s) is above instance-max-memory (%s)", l.InstanceMemory, l.InstanceMaxMemory)
	}
	for _, c := range []struct {
		name string
		v    float64
		zero bool
	}{{"instance-cpu", l.InstanceCPU, true}, {"instance-max-cpu", l.InstanceMaxCPU, false}, {"build-cpu", l.BuildCPU, false}} {
		if math.IsNaN(c.v) || (c.v != 0 || !c.zero) && (c.v < 0.01 || c.v > 64) {
			bad("%s must be between 0.01 and 64 cores", c.name)
		}
	}
	if l.InstanceCPU > l.InstanceMaxCPU {
		bad("instance-cpu (%g) is above instance-max-cpu (%g)", l.InstanceCPU, l.InstanceMaxCPU)
	}
	if l.InstancePids < 16 || l.InstanceMaxPids < 16 || l.BuildPids < 16 || l.InstanceMaxPids > 32768 {
		bad("instance-pids, instance-max-pids and build-pids must be at least 16 (instance-max-pids at most 32768)")
	}
	if l.InstancePids > l.InstanceMaxPids {
		bad("instance-pids (%d) is above instance-max-pids (%d)", l.InstancePids, l.InstanceMaxPids)
	}
	if l.MaxProcessInstances < 1 || l.MaxProcessInstances > 1000 {
		bad("max-process-instances must be between 1 and 1000")
	}
	if l.MaxAppInstances < 0 || l.UserAppLimit < 0 || l.UserAppLimit > controller.MaxUserAppLimit {
		bad("max-app-instances and user-app-limit cannot be negative (user-app-limit at most %d)", controller.MaxUserAppLimit)
	}
	if l.BuildTimeout < time.Minute {
		bad("build-timeout must be at least 1m")
	}
	if l.BuildOutputLimit < 64<<10 {
		bad("build-output-limit must be at least 64K")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// quotas are the limits the controller enforces on users' requests.
func (l Limits) quotas() controller.Quotas {
	return controller.Quotas{
		MaxMemory: int64(l.InstanceMaxMemory), MaxCPU: millicores(l.InstanceMaxCPU), MaxPids: l.InstanceMaxPids,
		MaxProcessInstances: l.MaxProcessInstances, MaxAppInstances: l.MaxAppInstances,
		AppLimit: l.UserAppLimit,
	}
}

// build are the limits of every build.
func (l Limits) build() builder.Limits {
	return builder.Limits{Memory: int64(l.BuildMemory), CPUs: l.BuildCPU, Pids: l.BuildPids, Timeout: l.BuildTimeout}
}

func millicores(cores float64) int { return int(math.Round(cores * 1000)) }

// byteSize is a flag value in bytes, written as a number with an
// optional K, M, G, T or P suffix (powers of 1024; "B", "iB" and "i" may
// follow): 512M, 2G, 1.5GiB, 1048576, as docker/go-units reads them.
type byteSize int64

var _ pflag.Value = (*byteSize)(nil)

func (b *byteSize) Set(s string) error {
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil || n < 0 || n > math.MaxInt64/2 {
		return fmt.Errorf("invalid size %q: want a number of bytes, or one with K, M, G or T (512M, 2G)", s)
	}
	*b = byteSize(n)
	return nil
}

func (b byteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Type() string { return "size" }
