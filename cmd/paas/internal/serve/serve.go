// Package serve is "paas server": it reads the server's settings (flags,
// PAAS_* environment, config file), builds each component with its
// dependencies, and runs them until the context ends. It is the one place
// where components are wired together.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"paas/builder"
	"paas/controller"
	"paas/controller/server"
	"paas/gitreceive"
	"paas/router"
	"paas/runtime"
	"paas/runtime/network"
	"paas/web"
)

// Version is paas's version, reported by /v1/info.
const Version = "0.1.0-dev"

// Command returns the "server" command. lookupEnv reads the environment
// (os.LookupEnv in main).
func Command(lookupEnv func(string) (string, bool)) *cobra.Command {
	var s Settings
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the paas server (controller API; more components as they land)",
		Long: `Run the paas server: every component in one process, with an embedded SQLite
state store by default.

Each setting is a flag, an environment variable (shown with each flag), or a key
in the config file (the flag's name, in TOML). The command line wins over the
environment, which wins over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.resolve(cmd.Flags(), lookupEnv); err != nil {
				return err
			}
			s.hostDownloadDefaults(cmd.Context(), lookupEnv, runHostCommand)
			cmd.SilenceUsage = true
			return Run(cmd.Context(), s, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	s.register(cmd.Flags())
	return cmd
}

func newLogger(s Settings, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run runs the server until ctx ends, then shuts down within the
// shutdown timeout. Messages for the operator (the admin token) go to out;
// logs go to logw.
func Run(ctx context.Context, s Settings, out, logw io.Writer) error {
	log := newLogger(s, logw)
	tuneGC(log)
	apiHosts, err := s.DeriveAPIHosts(os.Hostname)
	if err != nil {
		return fmt.Errorf("--api-hosts: %w", err)
	}
	log.Info("the API's own host names: no app may take them", "api_hosts", strings.Join(apiHosts, ","))
	metricsToken, err := s.metricsToken()
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Listen, err)
	}
	defer ln.Close()
	httpPort := ln.Addr().(*net.TCPAddr).Port
	sshLn, err := net.Listen("tcp", s.SSHListen)
	if err != nil {
		return fmt.Errorf("listen on %s for git: %w", s.SSHListen, err)
	}
	defer sshLn.Close()
	sshPort := sshLn.Addr().(*net.TCPAddr).Port

	var nw *network.Network
	nw, err = network.New(network.Config{Name: "paas", Bridge: s.Bridge, Subnet: s.Subnet,
		PluginDirs: []string{s.CNIPluginDir}, StateDir: filepath.Join(s.DataDir, "network")})
	if err != nil {
		log.Warn("no container network: apps cannot run", "err", err)
	}
	// The isolation rules are put back if something else removes them.
	keepCtx, stopKeeping := context.WithCancel(ctx)
	defer stopKeeping()
	if nw != nil {
		go nw.Keep(keepCtx, 10*time.Second, log)
	}
	// The shim runs this very binary as each instance's logger.
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the paas binary: %w", err)
	}
	logDir := filepath.Join(s.DataDir, "logs")
	// Containers (apps and builds) resolve names with the host's servers,
	// with options that ride out lost UDP answers.
	resolv := filepath.Join(s.DataDir, "network", "resolv.conf") // 0644: apps run as other users
	if err := network.WriteResolvConf(resolv); err != nil {
		log.Warn("containers get the host's /etc/resolv.conf as it is", "err", err)
		resolv = ""
	}
	// Containment: a user namespace for every container, if the kernel
	// can; builds are refused where it cannot, unless the operator allows.
	cont, err := checkContainment(s)
	if err != nil {
		return err
	}
	uncontained := !cont.contained() && s.AllowUncontained
	refuse := cont.refusal(s)
	switch {
	case uncontained:
		log.Warn("containers run WITHOUT a user namespace (allow-uncontained): their root is the host's root", "missing", cont.missing)
	case refuse != "":
		log.Error("builds refused", "reason", refuse)
	}
	rt := runtime.New(runtime.Options{Address: s.Containerd, Namespace: s.Namespace, Network: nw,
		LogDir: logDir, StopGrace: s.StopGrace, LogDriver: self, ResolvConf: resolv,
		Pids: s.Limits.InstancePids, Memory: int64(s.Limits.InstanceMemory), CPU: millicores(s.Limits.InstanceCPU),
		UserNS: cont.userNS, HostUserNS: uncontained})
	defer rt.Close()
	var runner server.Runtime
	if nw != nil {
		runner = rt
	}
	// The builder's RUN steps get a bridge and subnet of their own.
	var build server.Builder
	bnw, err := network.New(network.Config{Name: "paas-build", Bridge: s.BuildBridge, Subnet: s.BuildSubnet,
		PluginDirs: []string{s.CNIPluginDir}, StateDir: filepath.Join(s.DataDir, "network-build")})
	if err != nil {
		log.Warn("no network for builds: RUN steps get loopback only", "err", err)
		bnw = nil
	}
	if bnw != nil {
		go bnw.Keep(keepCtx, 10*time.Second, log)
	}
	bopts := builder.Options{Address: s.Containerd, Namespace: s.Namespace, Network: bnw, Logger: log.With("component", "builder"), ResolvConf: resolv,
		Limits: s.Limits.build(), UserNS: cont.userNS, HostUserNS: uncontained}
	bopts.BuildEnv = s.buildEnv()
	if s.CABundle != "" {
		if _, err := os.Stat(s.CABundle); err == nil {
			bopts.CABundle = s.CABundle
		}
	}
	if b, err := builder.New(bopts); err != nil {
		log.Warn("no builder: pushes cannot deploy", "err", err)
	} else {
		defer b.Close()
		build = builderAdapter{b: b, refuse: refuse}
		sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if st, err := b.Stacks(sctx); err == nil && len(st) == 0 {
			log.Warn("no stacks: apps have no base image to build on; run: paas stack build")
		}
		cancel()
	}

	var ctl *server.Controller
	var git *gitreceive.Server
	access := newAccessLog(logDir)
	health := func(ctx context.Context) controller.Health {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		h := controller.Health{Status: "ok", Components: map[string]controller.ComponentHealth{}}
		db := controller.ComponentHealth{OK: true, Address: ctl.Dialect()}
		if err := ctl.Ping(ctx); err != nil {
			db = controller.ComponentHealth{Address: ctl.Dialect(), Error: err.Error()}
			h.Status = "degraded"
		}
		h.Components["database"] = db
		cd := controller.ComponentHealth{Address: rt.Address()}
		if v, err := rt.Ping(ctx); err != nil {
			cd.Error = err.Error()
			h.Status = "degraded"
		} else {
			cd.OK, cd.Version = true, v
		}
		h.Components["containerd"] = cd
		return h
	}

	ctl, err = server.Open(ctx, server.Options{
		DataDir:             s.DataDir,
		Database:            s.Database,
		Logger:              log.With("component", "controller"),
		BaseDomain:          s.BaseDomain,
		APIHosts:            apiHosts,
		WebURL:              webURL(s.BaseDomain, httpPort),
		GitHost:             s.GitHost,
		SSHPort:             sshPort,
		Version:             Version,
		Health:              health,
		Runtime:             runner,
		Scheduler:           server.SchedulerOptions{HealthTimeout: s.HealthTimeout},
		TrustForwardedProto: s.TrustForwardedProto,
		MetricsToken:        metricsToken,
		LogDir:              logDir,
		Builder:             build,
		Quotas:              s.Limits.quotas(),
		BuildOutputLimit:    int64(s.Limits.BuildOutputLimit),
		AppDestroyed: func(app string) {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := access.forget(fctx, app); err != nil {
				log.Warn("cannot remove the access log of a destroyed app", "app", app, "err", err)
			}
			cancel()
			if ba, ok := build.(builderAdapter); ok {
				if _, err := ba.Prune(context.WithoutCancel(ctx), app, nil); err != nil {
					log.Warn("cannot remove the images of a destroyed app", "app", app, "err", err)
				}
				if err := ba.b.RemoveBuildCache(context.WithoutCancel(ctx), app); err != nil {
					log.Warn("cannot remove the build cache of a destroyed app", "app", app, "err", err)
				}
			}
			if git == nil {
				return
			}
			if err := git.RemoveRepo(context.WithoutCancel(ctx), app); err != nil {
				log.Warn("cannot remove the git repository of a destroyed app", "app", app, "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	defer ctl.Close()
	log.Info("state store open", "database", ctl.Dialect(), "data_dir", s.DataDir)

	git, err = gitreceive.New(gitreceive.Options{
		Controller:  gitController{ctl},
		ReposDir:    filepath.Join(s.DataDir, "repos"),
		HostKeyFile: filepath.Join(s.DataDir, "ssh_host_ed25519_key"),
		Logger:      log.With("component", "gitreceive"),
	})
	if err != nil {
		return err
	}

	token, created, err := ctl.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "\nCreated the first admin user %q. Its API token (shown once; also in %s/%s, mode 0600, removed on first use):\n\n    %s\n\nLog in with:  paas login http://HOST:%d --token %s\n\n",
			"admin", s.DataDir, server.BootstrapTokenFile, token, httpPort, token)
	}

	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if v, err := rt.Ping(pctx); err != nil {
		log.Warn("containerd is unreachable: apps cannot run until it answers; start it (systemctl start containerd) or point --containerd at its socket", "address", rt.Address(), "err", err)
	} else {
		log.Info("containerd answers", "address", rt.Address(), "version", v, "namespace", s.Namespace)
	}
	cancel()

	ropts := router.Options{BaseDomain: s.BaseDomain, APIHosts: apiHosts, Logger: log.With("component", "router"), AccessLog: access.add, ShutdownTimeout: s.ShutdownTimeout,
		MaxConnsPerClient: s.MaxConnsPerClient, MinBodyRate: s.MinBodyRate}
	if ropts.ACME, err = acmeOptions(s.ACMEDirectory, s.ACMEEmail, s.ACMECAFile, filepath.Join(s.DataDir, "acme")); err != nil {
		return err
	}
	rtr, err := router.New(ropts)
	if err != nil {
		return err
	}
	front := newEdge(s.BaseDomain, apiHosts, rtr, apiMux(ctl, rtr))

	// No whole-request read or write timeout: app responses may stream
	// (SSE, websockets, long downloads). The router bounds slow request
	// bodies itself; headers are bounded here.
	srv := &http.Server{
		Handler:           rtr.ACMEHandler(front),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	var tlsSrv *http.Server
	var tlsLn net.Listener
	if s.TLSListen != "" {
		if tlsLn, err = net.Listen("tcp", s.TLSListen); err != nil {
			return fmt.Errorf("listen on %s for HTTPS: %w", s.TLSListen, err)
		}
		defer tlsLn.Close()
		if a, ok := tlsLn.Addr().(*net.TCPAddr); ok {
			rtr.SetHTTPSPort(a.Port)
		}
		tlsSrv = &http.Server{Handler: front, TLSConfig: rtr.TLSConfig(), ReadHeaderTimeout: srv.ReadHeaderTimeout,
			IdleTimeout: srv.IdleTimeout, MaxHeaderBytes: srv.MaxHeaderBytes, ErrorLog: srv.ErrorLog}
	}
	g, gctx := errgroup.WithContext(ctx)
	if tlsSrv != nil {
		g.Go(func() error {
			log.Info("listening for HTTPS", "addr", tlsLn.Addr().String())
			if err := tlsSrv.ServeTLS(rtr.LimitListener(tlsLn), "", ""); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
			defer cancel()
			return tlsSrv.Shutdown(sctx)
		})
	}
	g.Go(func() error { return rtr.Run(gctx, ctl) })
	g.Go(func() error {
		log.Info("git push over SSH", "addr", sshLn.Addr().String(), "host_key", git.HostKeyFingerprint())
		return git.Serve(gctx, sshLn)
	})
	g.Go(func() error { front.follow(gctx, ctl); return nil })
	g.Go(func() error { access.run(gctx); return nil })
	g.Go(func() error {
		log.Info("listening", "addr", ln.Addr().String())
		// Apps' plain requests take the router's fast path; the rest of the
		// traffic (the API, the dashboard, upgrades...) goes to srv.
		err := rtr.ServeWith(gctx, ln, srv)
		log.Info("shut down")
		return err
	})
	g.Go(func() error { return ctl.Run(gctx) })
	return g.Wait()
}

// apiMux serves what is not app traffic: the API, /healthz, /metrics (to
// admins and the metrics token only: it names every app) and the
// dashboard.
func apiMux(ctl *server.Controller, rtr *router.Router) *http.ServeMux {
	ctl.SetMetrics(rtr)                     // the dashboard's request charts
	ctl.SetPrometheus(rtr.MetricsHandler()) // GET /metrics
	api := http.NewServeMux()
	api.Handle("/v1/", ctl.Handler())
	api.Handle("/healthz", ctl.Handler())
	api.Handle("GET /metrics", ctl.Handler())
	api.Handle("/", web.Handler(web.Options{Sessions: ctl}))
	return api
}

// webURL is an app's default URL: the base domain at the HTTP port.
func webURL(base string, port int) func(string) string {
	return func(app string) string {
		if port == 80 {
			return "http://" + app + "." + base
		}
		return fmt.Sprintf("http://%s.%s:%d", app, base, port)
	}
}

// LogDriverCommand returns the hidden "log-driver FILE" command that
// containerd's shim runs to write an instance's output to FILE.
func LogDriverCommand() *cobra.Command {
	return &cobra.Command{
		Use:    runtime.LogDriverCommand + " FILE",
		Short:  "Write an instance's output to FILE (run by containerd, not by people)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		Run: func(_ *cobra.Command, args []string) {
			runtime.RunLogDriver(args[0])
		},
	}
}

// gitController lets gitreceive reach the controller.
type gitController struct{ ctl *server.Controller }

func (g gitController) UserForKey(ctx context.Context, fingerprint string) (string, error) {
	return g.ctl.UserForKey(ctx, fingerprint)
}

func (g gitController) CanPush(ctx context.Context, user, app string) error {
	return g.ctl.CanPush(ctx, user, app)
}

func (g gitController) Deploy(ctx context.Context, req gitreceive.DeployRequest) (controller.Release, error) {
	return g.ctl.Deploy(ctx, server.DeployRequest{App: req.App, User: req.User, Rev: req.Rev, Source: req.Source, Output: req.Output})
}

func (g gitController) Run(ctx context.Context, req gitreceive.RunRequest) (int, error) {
	return g.ctl.RunAttached(ctx, server.RunRequest{App: req.App, User: req.User, Command: req.Command, Resize: req.Resize,
		Stdio: runtime.Stdio{Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, TTY: req.TTY}})
}
