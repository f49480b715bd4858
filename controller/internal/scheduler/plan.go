// Package scheduler makes the running instances match the desired
// formation. Plan is a pure function from the desired state and the
// observed instances to the actions that move one toward the other; the
// Scheduler is the thin loop that observes, plans, applies, health-checks
// new instances, publishes the routing table and records release status.
package scheduler

import (
	"fmt"
	"sort"
	"time"

	"paas/controller"
	"paas/runtime"
)

// Target is what one app should run.
type Target struct {
	App       string
	Release   int
	Image     string
	Env       map[string]string
	Processes []controller.Process
	// RestartedAt asks, per process type, for every instance created
	// before it to be replaced, as a rollout (paas ps:restart).
	RestartedAt map[string]time.Time
}

// Observed is a running or exited instance as the loop sees it.
type Observed struct {
	runtime.Instance
	Healthy bool // passed its health check since it started
}

// Action is one step of a plan: start an instance, or stop one.
type Action struct {
	Start  *runtime.Spec
	Stop   string // instance ID
	Reason string
	// Key identifies the slot (app, process type, number) an action is
	// for, to pace restarts of crashing instances.
	Key string
}

// Port is the $PORT every instance gets (each has its own network
// namespace, so they need not differ).
const Port = 5000

func slotKey(app, process string, number int) string {
	return fmt.Sprintf("%s/%s.%d", app, process, number)
}

// Plan returns the actions that bring observed toward targets:
//
//   - instances of apps with no target, and of process types scaled to 0
//     or gone from the release, are stopped;
//   - exited instances are removed (the loop paces their replacement);
//   - each process type gets instances 1..quantity of the target release;
//     numbers above the quantity are stopped;
//   - instances of other releases are stopped once every instance of the
//     target release is healthy — the rollout: new ones first, old ones
//     after.
//
// One-off instances (paas run) are left alone unless their app is gone.
// Plan is deterministic: actions come sorted.
func Plan(targets []Target, observed []Observed) []Action {
	var acts []Action
	byApp := map[string][]Observed{}
	for _, o := range observed {
		byApp[o.App] = append(byApp[o.App], o)
	}
	want := map[string]Target{}
	for _, t := range targets {
		want[t.App] = t
	}
	for app, insts := range byApp {
		if _, ok := want[app]; !ok {
			for _, o := range insts {
				acts = append(acts, Action{Stop: o.ID, Reason: "the app has no release", Key: slotKey(o.App, o.Process, o.Number)})
			}
		}
	}
	for _, t := range targets {
		acts = append(acts, planApp(t, byApp[t.App])...)
	}
	sort.SliceStable(acts, func(i, j int) bool {
		ki, kj := acts[i].Key+acts[i].Stop, acts[j].Key+acts[j].Stop
		return ki < kj
	})
	return acts
}

func planApp(t Target, insts []Observed) []Action {
	var acts []Action
	procs := map[string]controller.Process{}
	for _, p := range t.Processes {
		procs[p.Type] = p
	}
	byType := map[string][]Observed{}
	for _, o := range insts {
		if o.OneOff {
			continue
		}
		byType[o.Process] = append(byType[o.Process], o)
	}
	types := map[string]bool{}
	for ty := range procs {
		types[ty] = true
	}
	for ty := range byType {
		types[ty] = true
	}
	for ty := range types {
		p := procs[ty] // zero quantity for types gone from the release
		var cur, old []Observed
		for _, o := range byType[ty] {
			key := slotKey(t.App, ty, o.Number)
			switch {
			case o.State == runtime.StateStopped:
				acts = append(acts, Action{Stop: o.ID, Reason: fmt.Sprintf("%s exited with code %d", o.Name(), o.ExitCode), Key: key})
			case o.Release == t.Release && !o.Created.Before(t.RestartedAt[ty]):
				cur = append(cur, o)
			default:
				old = append(old, o)
			}
		}
		// Keep one current instance per number, the oldest.
		sort.Slice(cur, func(i, j int) bool {
			if cur[i].Number != cur[j].Number {
				return cur[i].Number < cur[j].Number
			}
			return cur[i].Created.Before(cur[j].Created)
		})
		have := map[int]bool{}
		ready := 0
		for _, o := range cur {
			key := slotKey(t.App, ty, o.Number)
			switch {
			case o.Number > p.Quantity:
				acts = append(acts, Action{Stop: o.ID, Reason: fmt.Sprintf("scaled %s to %d", ty, p.Quantity), Key: key})
			case have[o.Number]:
				acts = append(acts, Action{Stop: o.ID, Reason: "a duplicate of " + o.Name(), Key: key})
			default:
				have[o.Number] = true
				if o.Healthy {
					ready++
				}
			}
		}
		for n := 1; n <= p.Quantity; n++ {
			if have[n] {
				continue
			}
			spec := runtime.Spec{
				App: t.App, Release: t.Release, Process: ty, Number: n, Image: t.Image,
				Command: p.Command, Env: t.Env, Port: Port, Memory: p.Memory, CPU: p.CPU, Pids: p.Pids,
			}
			acts = append(acts, Action{Start: &spec, Reason: fmt.Sprintf("%s.%d of v%d", ty, n, t.Release), Key: slotKey(t.App, ty, n)})
		}
		if ready == p.Quantity {
			for _, o := range old {
				acts = append(acts, Action{Stop: o.ID, Reason: fmt.Sprintf("replaced by v%d", t.Release), Key: slotKey(t.App, ty, o.Number)})
			}
		}
	}
	return acts
}
