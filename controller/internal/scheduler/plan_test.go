package scheduler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
	"paas/runtime"
)

func inst(app string, release int, process string, n int, state string, healthy bool) Observed {
	return Observed{Instance: runtime.Instance{
		ID: app + "." + process + "." + itoa(n) + ".v" + itoa(release), App: app, Release: release,
		Process: process, Number: n, State: state, Created: time.Unix(int64(n), 0),
	}, Healthy: healthy}
}

func itoa(n int) string { return string(rune('0' + n)) }

// summary renders actions compactly: "+shop/web.2@v3" or "-ID".
func summary(acts []Action) []string {
	out := []string{}
	for _, a := range acts {
		if a.Start != nil {
			out = append(out, "+"+slotKey(a.Start.App, a.Start.Process, a.Start.Number)+"@v"+itoa(a.Start.Release))
		} else {
			out = append(out, "-"+a.Stop)
		}
	}
	return out
}

func TestPlan(t *testing.T) {
	const run, exited = runtime.StateRunning, runtime.StateStopped
	shop := func(release int, procs ...controller.Process) Target {
		return Target{App: "shop", Release: release, Image: "img", Processes: procs}
	}
	web := func(q int) controller.Process { return controller.Process{Type: "web", Quantity: q, Command: "serve"} }
	worker := func(q int) controller.Process { return controller.Process{Type: "worker", Quantity: q} }
	cases := []struct {
		name     string
		targets  []Target
		observed []Observed
		want     []string
	}{
		{"nothing to do", nil, nil, []string{}},
		{"scale up from zero", []Target{shop(1, web(3))}, nil,
			[]string{"+shop/web.1@v1", "+shop/web.2@v1", "+shop/web.3@v1"}},
		{"converged", []Target{shop(1, web(2))},
			[]Observed{inst("shop", 1, "web", 1, run, true), inst("shop", 1, "web", 2, run, true)}, []string{}},
		{"scale down stops the highest numbers", []Target{shop(1, web(1))},
			[]Observed{inst("shop", 1, "web", 1, run, true), inst("shop", 1, "web", 2, run, true), inst("shop", 1, "web", 3, run, false)},
			[]string{"-shop.web.2.v1", "-shop.web.3.v1"}},
		{"scale to zero", []Target{shop(1, web(0))},
			[]Observed{inst("shop", 1, "web", 1, run, true)}, []string{"-shop.web.1.v1"}},
		{"rollout starts new, keeps old while new are not healthy", []Target{shop(2, web(2))},
			[]Observed{inst("shop", 1, "web", 1, run, true), inst("shop", 1, "web", 2, run, true), inst("shop", 2, "web", 1, run, false)},
			[]string{"+shop/web.2@v2"}},
		{"rollout stops old once all new are healthy", []Target{shop(2, web(2))},
			[]Observed{inst("shop", 1, "web", 1, run, true), inst("shop", 1, "web", 2, run, true), inst("shop", 2, "web", 1, run, true), inst("shop", 2, "web", 2, run, true)},
			[]string{"-shop.web.1.v1", "-shop.web.2.v1"}},
		{"rollback is a rollout too", []Target{shop(1, web(1))},
			[]Observed{inst("shop", 2, "web", 1, run, true)},
			[]string{"+shop/web.1@v1"}},
		{"exited instances are removed and replaced", []Target{shop(1, web(1))},
			[]Observed{inst("shop", 1, "web", 1, exited, false)},
			[]string{"+shop/web.1@v1", "-shop.web.1.v1"}},
		{"process types gone from the release stop", []Target{shop(2, web(1))},
			[]Observed{inst("shop", 2, "web", 1, run, true), inst("shop", 1, "worker", 1, run, true)},
			[]string{"-shop.worker.1.v1"}},
		{"orphans of apps with no target stop", []Target{shop(1, web(1))},
			[]Observed{inst("shop", 1, "web", 1, run, true), inst("gone", 4, "web", 1, run, true)},
			[]string{"-gone.web.1.v4"}},
		{"several types at once", []Target{shop(1, web(1), worker(2))},
			[]Observed{inst("shop", 1, "web", 1, run, true)},
			[]string{"+shop/worker.1@v1", "+shop/worker.2@v1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := summary(Plan(c.targets, c.observed))
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanDuplicatesAndOneOffs(t *testing.T) {
	a := inst("shop", 1, "web", 1, runtime.StateRunning, true)
	b := inst("shop", 1, "web", 1, runtime.StateRunning, true)
	b.ID, b.Created = "shop.web.1.v1.dup", a.Created.Add(time.Second)
	run := inst("shop", 1, "run", 1, runtime.StateRunning, false)
	run.OneOff, run.ID = true, "shop.run.1"
	got := summary(Plan([]Target{{App: "shop", Release: 1, Processes: []controller.Process{{Type: "web", Quantity: 1}}}}, []Observed{a, b, run}))
	if diff := cmp.Diff([]string{"-shop.web.1.v1.dup"}, got); diff != "" {
		t.Errorf("Plan with a duplicate and a one-off (-want +got):\n%s", diff)
	}
	spec := Plan([]Target{{App: "shop", Release: 3, Image: "img:3", Env: map[string]string{"A": "1"},
		Processes: []controller.Process{{Type: "web", Quantity: 1, Command: "serve", Memory: 1 << 26, CPU: 250}}}}, nil)[0].Start
	want := &runtime.Spec{App: "shop", Release: 3, Process: "web", Number: 1, Image: "img:3", Command: "serve", Env: map[string]string{"A": "1"}, Port: Port, Memory: 1 << 26, CPU: 250}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("start spec (-want +got):\n%s", diff)
	}
}

func TestPlanRestart(t *testing.T) {
	old := inst("shop", 1, "web", 1, runtime.StateRunning, true)
	tg := Target{App: "shop", Release: 1, Processes: []controller.Process{{Type: "web", Quantity: 1}},
		RestartedAt: map[string]time.Time{"web": old.Created.Add(time.Second)}}
	if diff := cmp.Diff([]string{"+shop/web.1@v1"}, summary(Plan([]Target{tg}, []Observed{old}))); diff != "" {
		t.Errorf("Plan after a restart request (-want +got):\n%s", diff)
	}
	fresh := inst("shop", 1, "web", 1, runtime.StateRunning, true)
	fresh.ID, fresh.Created = "shop.web.1.v1.new", old.Created.Add(2*time.Second)
	if diff := cmp.Diff([]string{"-shop.web.1.v1"}, summary(Plan([]Target{tg}, []Observed{old, fresh}))); diff != "" {
		t.Errorf("Plan once the replacement is healthy (-want +got):\n%s", diff)
	}
}
