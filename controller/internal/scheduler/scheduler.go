package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"paas/controller"
	"paas/controller/internal/routing"
	"paas/controller/internal/store"
	"paas/runtime"
)

// State is the part of the store the scheduler reads and writes.
type State interface {
	Deployments(ctx context.Context) ([]store.Deployment, error)
	SetReleaseStatus(ctx context.Context, app string, version int, status, reason string) error
}

// Runtime runs instances on a node. *runtime.Runtime is one; a remote
// node agent can be another.
type Runtime interface {
	Start(ctx context.Context, s runtime.Spec) (runtime.Instance, error)
	Stop(ctx context.Context, id string) error
	List(ctx context.Context) ([]runtime.Instance, error)
	Logs(id string, n int) ([]string, error)
}

// Options configure a Scheduler. Zero values are documented per field.
type Options struct {
	State   State
	Runtime Runtime
	Routes  *routing.Publisher
	Logger  *slog.Logger // if nil, logs are discarded

	BaseDomain string // apps' default domains are <app>.<BaseDomain>; if empty, localhost

	// Interval is how often the loop reconciles without being notified;
	// if 0, 2 s.
	Interval time.Duration
	// HealthTimeout is how long a new web instance has to accept TCP
	// connections on $PORT; if 0, 60 s (Heroku's boot timeout).
	HealthTimeout time.Duration
	// SettleTime is how long a new non-web instance must keep running to
	// count as healthy; if 0, 3 s.
	SettleTime time.Duration
	// DrainTime is how long an instance taken out of the routing table
	// keeps serving in-flight requests before it is stopped; if 0, 2 s.
	DrainTime time.Duration
	// Backoff paces restarts of a crashing instance: the first waits
	// Backoff, each next one twice as long, up to MaxBackoff; a slot that
	// stayed up ResetAfter starts over. If 0: 1 s, 5 min, 10 min.
	Backoff, MaxBackoff, ResetAfter time.Duration
	// Parallel bounds concurrent starts; if 0, 4.
	Parallel int
}

// Event is something the scheduler did or saw, for the app's log.
type Event struct {
	Time    time.Time
	App     string
	Source  string // "scheduler", or what Note was given ("build")
	Message string
}

// health is what the loop knows of an instance beyond containerd.
type health struct {
	healthy bool
	failed  string // why the health check failed, if it did
	probing bool
}

// slot paces the restarts of one (app, type, number).
type slot struct {
	crashes   int
	notBefore time.Time
	upSince   time.Time
}

// Scheduler is the reconcile loop. Make one with New and run it with Run.
type Scheduler struct {
	opt   Options
	log   *slog.Logger
	kick  chan struct{}
	clock func() time.Time
	bg    sync.WaitGroup // stops and probes under way

	mu       sync.Mutex
	health   map[string]*health // by instance ID
	stopping map[string]bool
	slots    map[string]*slot
	events   []Event
	runs     int                             // one-off runs started, to number them
	restarts map[string]map[string]time.Time // app → process type → restart requested at
}

// New returns a Scheduler.
func New(opt Options) *Scheduler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.BaseDomain == "" {
		opt.BaseDomain = "localhost"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opt.Interval, 2*time.Second)
	def(&opt.HealthTimeout, 60*time.Second)
	def(&opt.SettleTime, 3*time.Second)
	def(&opt.DrainTime, 2*time.Second)
	def(&opt.Backoff, time.Second)
	def(&opt.MaxBackoff, 5*time.Minute)
	def(&opt.ResetAfter, 10*time.Minute)
	if opt.Parallel == 0 {
		opt.Parallel = 4
	}
	return &Scheduler{
		opt: opt, log: opt.Logger, kick: make(chan struct{}, 1), clock: time.Now,
		health: map[string]*health{}, stopping: map[string]bool{}, slots: map[string]*slot{},
		restarts: map[string]map[string]time.Time{},
	}
}

// Notify asks for a reconcile soon, after a change of state.
func (s *Scheduler) Notify() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Events returns the recorded events of an app (all apps if app is ""),
// oldest first.
func (s *Scheduler) Events(app string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, e := range s.events {
		if app == "" || e.App == app {
			out = append(out, e)
		}
	}
	return out
}

// Forget is called once an app is destroyed: it waits until none of the
// app's instances (one-offs included) runs or is being stopped, at most
// until ctx ends, then drops everything the scheduler kept by the app's
// name: its events, restart pacing and restart requests. A new app of the
// same name starts with none of them. It returns ctx's error if instances
// were still there when ctx ended (what was kept is dropped all the same).
func (s *Scheduler) Forget(ctx context.Context, app string) error {
	var werr error
	for {
		s.Notify()
		busy, err := s.busy(ctx, app)
		if err == nil && !busy {
			break
		}
		select {
		case <-ctx.Done():
			werr = fmt.Errorf("instances of %s still there: %w", app, ctx.Err())
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.events[:0]
	for _, e := range s.events {
		if e.App != app {
			kept = append(kept, e)
		}
	}
	clear(s.events[len(kept):])
	s.events = kept
	for k := range s.slots {
		if strings.HasPrefix(k, app+"/") {
			delete(s.slots, k)
		}
	}
	delete(s.restarts, app)
	return werr
}

// busy tells whether any instance of app exists or is being stopped.
func (s *Scheduler) busy(ctx context.Context, app string) (bool, error) {
	insts, err := s.opt.Runtime.List(ctx)
	if err != nil {
		return true, err
	}
	for _, in := range insts {
		if in.App == app {
			return true, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.stopping {
		if strings.HasPrefix(id, app+".") {
			return true, nil
		}
	}
	return false, nil
}

func (s *Scheduler) event(app, format string, args ...any) {
	s.record(Event{Time: s.clock().UTC(), App: app, Source: "scheduler", Message: fmt.Sprintf(format, args...)})
}

// Note records an event of another part of the platform in an app's event
// stream, which paas logs shows as "paas[source]: message": the deployer's
// builds ("build").
func (s *Scheduler) Note(app, source, message string) {
	s.record(Event{Time: s.clock().UTC(), App: app, Source: source, Message: message})
}

func (s *Scheduler) record(e Event) {
	app := e.App
	s.log.Info(e.Message, "app", app, "source", e.Source)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	if len(s.events) > 10000 {
		s.events = append([]Event(nil), s.events[len(s.events)-5000:]...)
	}
}

// Run reconciles until ctx ends, then waits for the stops under way.
// Instances keep running when it returns: a new Scheduler adopts them.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.opt.Interval)
	defer t.Stop()
	defer s.bg.Wait()
	for {
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Reconcile observes, plans and applies once.
func (s *Scheduler) Reconcile(ctx context.Context) error {
	deps, err := s.opt.State.Deployments(ctx)
	if err != nil {
		return fmt.Errorf("read deployments: %w", err)
	}
	insts, err := s.opt.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	now := s.clock()
	targets := make([]Target, 0, len(deps))
	s.mu.Lock()
	for _, d := range deps {
		targets = append(targets, Target{App: d.App, Release: d.Release, Image: d.Image, Env: d.Config, Processes: d.Processes, RestartedAt: s.restarts[d.App]})
	}
	s.mu.Unlock()
	checks := map[string]map[string]controller.HealthCheck{}
	for _, d := range deps {
		for _, h := range d.Checks {
			if checks[d.App] == nil {
				checks[d.App] = map[string]controller.HealthCheck{}
			}
			checks[d.App][h.Type] = h
		}
	}
	observed := s.observe(ctx, insts, checks)

	// A release whose new instances failed before they were healthy is
	// marked failed; the next pass rolls back to the one before it.
	if s.failReleases(ctx, deps, observed) {
		s.Notify()
		return nil
	}

	acts := Plan(targets, observed)
	// Stops first: a crash sets its slot's backoff before the slot's
	// replacement is considered.
	stops := 0
	for _, a := range acts {
		if a.Start == nil {
			s.beginStop(ctx, a, observed)
			stops++
		}
	}
	if stops > 0 {
		// The instances now stopping are out of the routing table: look
		// again at once, so a finished rollout is reported without
		// waiting for their drain.
		defer s.Notify()
	}
	var starts []Action
	for _, a := range acts {
		if a.Start == nil {
			continue
		}
		sl := s.slot(a.Key)
		s.mu.Lock()
		wait := now.Before(sl.notBefore)
		s.mu.Unlock()
		if !wait {
			starts = append(starts, a)
		}
	}
	s.start(ctx, starts)
	s.markReleases(ctx, deps, observed, starts)
	s.publish(deps, observed)
	return nil
}

func (s *Scheduler) slot(key string) *slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[key]
	if sl == nil {
		sl = &slot{}
		s.slots[key] = sl
	}
	return sl
}

// observe joins containerd's view with health knowledge, leaves out
// instances being stopped, and starts health probes for new instances.
func (s *Scheduler) observe(ctx context.Context, insts []runtime.Instance, checks map[string]map[string]controller.HealthCheck) []Observed {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []Observed
	for _, in := range insts {
		seen[in.ID] = true
		if s.stopping[in.ID] {
			continue
		}
		h := s.health[in.ID]
		if h == nil {
			h = &health{}
			s.health[in.ID] = h
		}
		if in.State == runtime.StateRunning && !h.healthy && !h.probing && h.failed == "" && !in.OneOff {
			h.probing = true
			s.bg.Add(1)
			hc := checks[in.App][in.Process]
			go func() { defer s.bg.Done(); s.probe(ctx, in, hc) }()
		}
		// An instance whose state containerd could not tell this time
		// (a slow or restarting daemon) keeps the health it had, so a
		// passing hiccup does not empty the routing table.
		up := in.State == runtime.StateRunning || in.State == runtime.StateUnknown
		out = append(out, Observed{Instance: in, Healthy: h.healthy && up})
	}
	for id := range s.health {
		if !seen[id] {
			delete(s.health, id)
		}
	}
	return out
}

// probe waits until an instance is healthy: a web instance answers its
// health check (HTTP GET of the check's path, else a TCP connection to its
// port); another kind keeps running for SettleTime.
func (s *Scheduler) probe(ctx context.Context, in runtime.Instance, hc controller.HealthCheck) {
	ok, why := false, ""
	if in.Process == "web" {
		ok, why = s.probeWeb(ctx, in, hc)
	} else {
		ok, why = s.probeSettle(ctx, in)
	}
	s.mu.Lock()
	if h := s.health[in.ID]; h != nil {
		h.probing, h.healthy = false, ok
		if !ok {
			h.failed = why
		}
	}
	s.mu.Unlock()
	if ok {
		sl := s.slot(slotKey(in.App, in.Process, in.Number))
		s.mu.Lock()
		sl.upSince = s.clock()
		s.mu.Unlock()
		s.event(in.App, "%s of v%d is healthy", in.Name(), in.Release)
	}
	s.Notify()
}

func (s *Scheduler) probeWeb(ctx context.Context, in runtime.Instance, hc controller.HealthCheck) (bool, string) {
	timeout := time.Duration(hc.Timeout) * time.Second
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	what := fmt.Sprintf("listen on port %d", in.Port)
	attempt := func() error {
		c, err := net.DialTimeout("tcp", in.Address(), min(timeout, time.Second))
		if err == nil {
			c.Close()
		}
		return err
	}
	pause := 200 * time.Millisecond
	if hc.Path != "" {
		what = fmt.Sprintf("answer GET %s with 2xx or 3xx", hc.Path)
		client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		attempt = func() error {
			resp, err := client.Get("http://" + in.Address() + hc.Path)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode >= 400 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		pause = time.Second
	}
	deadline := time.Now().Add(s.opt.HealthTimeout)
	var last error
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return false, "shutting down"
		}
		if last = attempt(); last == nil {
			return true, ""
		}
		if s.exited(ctx, in.ID) {
			return false, fmt.Sprintf("%s exited before it was healthy (it did not %s)", in.Name(), what)
		}
		if hc.Attempts > 0 && n >= hc.Attempts {
			return false, fmt.Sprintf("%s did not %s in %d attempts (last: %v)", in.Name(), what, n, last)
		}
		if hc.Attempts == 0 && time.Now().After(deadline) {
			return false, fmt.Sprintf("%s did not %s within %v (last: %v)", in.Name(), what, s.opt.HealthTimeout, last)
		}
		time.Sleep(pause)
	}
}

func (s *Scheduler) probeSettle(ctx context.Context, in runtime.Instance) (bool, string) {
	select {
	case <-time.After(s.opt.SettleTime):
	case <-ctx.Done():
		return false, "shutting down"
	}
	if s.exited(ctx, in.ID) {
		return false, fmt.Sprintf("%s exited within %v of starting", in.Name(), s.opt.SettleTime)
	}
	return true, ""
}

func (s *Scheduler) exited(ctx context.Context, id string) bool {
	insts, err := s.opt.Runtime.List(ctx)
	if err != nil {
		return false
	}
	for _, in := range insts {
		if in.ID == id {
			return in.State == runtime.StateStopped
		}
	}
	return true
}

// failReleases marks failed each target release that is still rolling
// out and has an instance that failed its health check or exited before
// it was healthy. It reports whether it marked any.
func (s *Scheduler) failReleases(ctx context.Context, deps []store.Deployment, observed []Observed) bool {
	marked := false
	for _, d := range deps {
		if d.Status == controller.ReleaseSucceeded || d.Status == controller.ReleaseFailed {
			continue
		}
		for _, o := range observed {
			if o.App != d.App || o.Release != d.Release || o.OneOff {
				continue
			}
			s.mu.Lock()
			why := ""
			if h := s.health[o.ID]; h != nil {
				why = h.failed
			}
			s.mu.Unlock()
			if why == "" && o.State == runtime.StateStopped && !o.Healthy {
				why = fmt.Sprintf("%s exited with code %d before it was healthy", o.Name(), o.ExitCode)
			}
			if why == "" {
				continue
			}
			// The logger (a process of its own, started by the shim) may
			// lag the exit, by seconds on a loaded machine.
			for try := 0; try < 100; try++ {
				if lines, err := s.opt.Runtime.Logs(o.ID, 10); err == nil && len(lines) > 0 {
					why += "; its last log lines:\n" + strings.Join(lines, "\n")
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := s.opt.State.SetReleaseStatus(ctx, d.App, d.Release, controller.ReleaseFailed, why); err != nil {
				s.log.Warn("cannot mark release failed", "app", d.App, "release", d.Release, "err", err)
				continue
			}
			s.event(d.App, "release v%d failed: %s", d.Release, why)
			marked = true
			break
		}
	}
	return marked
}

// markReleases records rollouts starting and finishing.
func (s *Scheduler) markReleases(ctx context.Context, deps []store.Deployment, observed []Observed, starts []Action) {
	for _, d := range deps {
		switch d.Status {
		case controller.ReleasePending:
			for _, a := range starts {
				if a.Start.App == d.App && a.Start.Release == d.Release {
					if err := s.opt.State.SetReleaseStatus(ctx, d.App, d.Release, controller.ReleaseDeploying, ""); err == nil {
						s.event(d.App, "deploying v%d", d.Release)
					}
					break
				}
			}
		case controller.ReleaseDeploying:
			if s.rolledOut(d, observed, starts) {
				if err := s.opt.State.SetReleaseStatus(ctx, d.App, d.Release, controller.ReleaseSucceeded, ""); err == nil {
					s.event(d.App, "v%d is live", d.Release)
				}
			}
		}
	}
}

// rolledOut: every process type has its quantity of healthy instances of
// the release, and no instance of another release runs.
func (s *Scheduler) rolledOut(d store.Deployment, observed []Observed, starts []Action) bool {
	for _, a := range starts {
		if a.Start.App == d.App {
			return false
		}
	}
	healthy := map[string]int{}
	for _, o := range observed {
		if o.App != d.App || o.OneOff {
			continue
		}
		if o.Release != d.Release {
			return false
		}
		if o.Healthy {
			healthy[o.Process]++
		}
	}
	for _, p := range d.Processes {
		if healthy[p.Type] < p.Quantity {
			return false
		}
	}
	return true
}

func (s *Scheduler) start(ctx context.Context, starts []Action) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opt.Parallel)
	for _, a := range starts {
		g.Go(func() error {
			in, err := s.opt.Runtime.Start(gctx, *a.Start)
			if err != nil {
				s.event(a.Start.App, "cannot start %s: %v", a.Start.Name(), err)
				s.backoff(a.Key)
				return nil
			}
			s.event(in.App, "started %s (v%d) at %s", in.Name(), in.Release, in.IP)
			return nil
		})
	}
	_ = g.Wait()
}

// backoff pushes a slot's next start back after a crash or a failed start.
func (s *Scheduler) backoff(key string) {
	sl := s.slot(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if !sl.upSince.IsZero() && now.Sub(sl.upSince) >= s.opt.ResetAfter {
		sl.crashes = 0
	}
	d := s.opt.Backoff << sl.crashes
	if d > s.opt.MaxBackoff || d <= 0 {
		d = s.opt.MaxBackoff
	}
	sl.crashes++
	sl.notBefore = now.Add(d)
	sl.upSince = time.Time{}
}

// beginStop takes an instance out of the routing table now and stops it
// after the drain time, in the background.
func (s *Scheduler) beginStop(ctx context.Context, a Action, observed []Observed) {
	var o *Observed
	for i := range observed {
		if observed[i].ID == a.Stop {
			o = &observed[i]
		}
	}
	s.mu.Lock()
	if s.stopping[a.Stop] {
		s.mu.Unlock()
		return
	}
	s.stopping[a.Stop] = true
	s.mu.Unlock()
	crashed := o != nil && o.State == runtime.StateStopped
	if crashed {
		s.backoff(a.Key)
		sl := s.slot(a.Key)
		s.mu.Lock()
		wait := sl.notBefore.Sub(s.clock()).Round(time.Millisecond)
		n := sl.crashes
		s.mu.Unlock()
		s.event(o.App, "%s crashed (%s); restart %d in %v", o.Name(), a.Reason, n, wait)
	}
	drain := o != nil && o.Healthy && o.Process == "web"
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if drain {
			select {
			case <-time.After(s.opt.DrainTime):
			case <-ctx.Done():
			}
		}
		err := s.opt.Runtime.Stop(context.WithoutCancel(ctx), a.Stop)
		// The event first, then the end of the stop: Forget, which waits
		// for the stops, then sees every event of the app.
		if o != nil && !crashed {
			if err != nil {
				s.event(o.App, "cannot stop %s: %v", o.Name(), err)
			} else {
				s.event(o.App, "stopped %s (v%d): %s", o.Name(), o.Release, a.Reason)
			}
		}
		s.mu.Lock()
		delete(s.stopping, a.Stop)
		s.mu.Unlock()
		s.Notify()
	}()
}

// publish puts every app's healthy web instances, not being stopped, in
// the routing table.
func (s *Scheduler) publish(deps []store.Deployment, observed []Observed) {
	if s.opt.Routes == nil {
		return
	}
	s.mu.Lock()
	stopping := make(map[string]bool, len(s.stopping))
	for id := range s.stopping {
		stopping[id] = true
	}
	s.mu.Unlock()
	apps := make([]controller.AppRoute, 0, len(deps))
	for _, d := range deps {
		r := controller.AppRoute{App: d.App, Domains: append([]string{d.App + "." + s.opt.BaseDomain}, d.Domains...), Endpoints: []controller.Endpoint{}, Certs: d.Certs,
			ForceHTTPS: d.ForceHTTPS, MaxBodyBytes: d.MaxBodyBytes}
		for _, o := range observed {
			if o.App == d.App && o.Process == "web" && o.Healthy && !o.OneOff && !stopping[o.ID] && o.Address() != "" {
				r.Endpoints = append(r.Endpoints, controller.Endpoint{Instance: o.Name(), Release: o.Release, Address: o.Address()})
			}
		}
		sort.Slice(r.Endpoints, func(i, j int) bool {
			a, b := r.Endpoints[i], r.Endpoints[j]
			if a.Release != b.Release {
				return a.Release > b.Release
			}
			return a.Instance < b.Instance
		})
		apps = append(apps, r)
	}
	s.opt.Routes.Publish(apps)
}

// Instances describes an app's instances for paas ps.
func (s *Scheduler) Instances(ctx context.Context, app string) ([]controller.Instance, error) {
	insts, err := s.opt.Runtime.List(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []controller.Instance{}
	for _, in := range insts {
		if in.App != app {
			continue
		}
		ci := controller.Instance{Name: in.Name(), Release: in.Release, Address: in.Address(), Node: in.Node, Created: in.Created, ID: in.ID}
		h := s.health[in.ID]
		switch {
		case s.stopping[in.ID]:
			ci.State = "stopping"
		case in.State == runtime.StateStopped:
			ci.State = "crashed"
		case h != nil && h.healthy:
			ci.State, ci.Healthy = "running", true
		case h != nil && h.failed != "":
			ci.State = "unhealthy"
		default:
			ci.State = "starting"
		}
		if sl := s.slots[slotKey(in.App, in.Process, in.Number)]; sl != nil {
			ci.Restarts = sl.crashes
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || (out[i].Name == out[j].Name && out[i].Release > out[j].Release)
	})
	return out, nil
}

// Restart replaces the app's instances of a process type ("" for all
// types) as a rollout: new ones first, old ones once the new are healthy.
// The request lives in memory: a restart of paas server forgets it.
func (s *Scheduler) Restart(app, process string, types []string) {
	now := s.clock()
	s.mu.Lock()
	m := map[string]time.Time{}
	for k, v := range s.restarts[app] {
		m[k] = v
	}
	for _, ty := range types {
		if process == "" || ty == process {
			m[ty] = now
		}
	}
	s.restarts[app] = m
	s.mu.Unlock()
	s.event(app, "restarting %s", map[bool]string{true: "all processes", false: process}[process == ""])
	s.Notify()
}
