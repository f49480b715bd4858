package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"paas/controller"
)

func (r *runner) addDeployCommands(root *cobra.Command) {
	r.addConfigCommands(root)
	r.addScaleCommands(root)
	r.addReleaseCommands(root)
	root.AddCommand(r.jsonFlag(r.appFlag(&cobra.Command{
		Use:     "builds",
		Aliases: []string{"builds:list"},
		Short:   "List the builds of an app, newest first",
		GroupID: groupDeploy,
		Args:    nargs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			builds, err := c.Builds(cmd.Context(), app)
			if err != nil {
				return err
			}
			t := newTable("id", "status", "rev", "by", "created")
			t.status = 1
			for _, b := range builds {
				t.add(fmt.Sprint(b.ID), b.Status, short(b.Rev), b.CreatedBy, formatTime(b.CreatedAt))
			}
			return r.show(builds, t.render)
		},
	})))
}

func (r *runner) addConfigCommands(root *cobra.Command) {
	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "config",
			Aliases: []string{"config:list"},
			Short:   "Show the config vars of an app",
			GroupID: groupDeploy,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				vars, err := c.Config(cmd.Context(), app)
				if err != nil {
					return err
				}
				f := &fields{title: app + " Config Vars"}
				for _, k := range slices.Sorted(maps.Keys(vars)) {
					f.add(k, vars[k])
				}
				return r.show(vars, f.render)
			},
		})),
		r.appFlag(&cobra.Command{
			Use:     "config:get KEY",
			Short:   "Print the value of one config var",
			GroupID: groupDeploy,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				vars, err := c.Config(cmd.Context(), app)
				if err != nil {
					return err
				}
				v, ok := vars[args[0]]
				if !ok {
					return controller.Errorf(controller.ErrNotFound, "%s has no config var %s", app, args[0])
				}
				r.printf("%s\n", v)
				return nil
			},
		}),
		r.appFlag(&cobra.Command{
			Use:     "config:set KEY=VALUE...",
			Short:   "Set config vars and restart the app",
			GroupID: groupDeploy,
			Args:    nargs(1, -1),
			RunE: func(cmd *cobra.Command, args []string) error {
				vars, err := parseConfigVars(args)
				if err != nil {
					return err
				}
				change := make(map[string]*string, len(vars))
				keys := make([]string, len(vars))
				for i, v := range vars {
					change[v.Key] = &vars[i].Value
					keys[i] = v.Key
				}
				return r.changeConfig(cmd.Context(), "Setting", keys, change)
			},
		}),
		r.appFlag(&cobra.Command{
			Use:     "config:unset KEY...",
			Short:   "Unset config vars and restart the app",
			GroupID: groupDeploy,
			Args:    nargs(1, -1),
			RunE: func(cmd *cobra.Command, args []string) error {
				change := make(map[string]*string, len(args))
				for _, k := range args {
					if err := controller.ValidateConfigKey(k); err != nil {
						return err
					}
					change[k] = nil
				}
				return r.changeConfig(cmd.Context(), "Unsetting", args, change)
			},
		}),
	)
}

// changeConfig sends a config change and tells, as Heroku does,
// "Setting FOO and restarting shop... done, v3".
func (r *runner) changeConfig(ctx context.Context, verb string, keys []string, change map[string]*string) error {
	c, app, err := r.appClient(ctx)
	if err != nil {
		return err
	}
	cc, err := c.SetConfig(ctx, app, change)
	if err != nil {
		return err
	}
	if !cc.Changed {
		r.printf("%s %s on %s... done (no change: the config already was so)\n", verb, andList(keys), app)
		return nil
	}
	if cc.Release == nil {
		r.printf("%s %s on %s... done (takes effect with the first release)\n", verb, andList(keys), app)
		return nil
	}
	r.printf("%s %s and restarting %s... done, %s\n", verb, andList(keys), app, version(cc.Release.Version))
	return nil
}

func (r *runner) addScaleCommands(root *cobra.Command) {
	var memory, cpu string
	var pids int64
	scale := &cobra.Command{
		Use:     "scale TYPE=N...",
		Aliases: []string{"ps:scale"},
		Short:   "Scale process types, and set their memory, CPU and process limits",
		Long: "Scale process types, as in paas scale web=2 worker=1. --memory, --cpu and --pids set\n" +
			"the limits of every type given; with them, a bare TYPE keeps its quantity.",
		Example: "  paas scale web=2 worker=1\n  paas scale web=4 --memory 512M --cpu 0.5\n  paas scale worker --memory 1G",
		GroupID: groupDeploy,
		Args:    nargs(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			withPids := cmd.Flags().Changed("pids")
			updates, err := parseScale(args, memory != "" || cpu != "" || withPids)
			if err != nil {
				return err
			}
			if memory != "" {
				m, err := parseMemory(memory)
				if err != nil {
					return err
				}
				for i := range updates {
					updates[i].Memory = &m
				}
			}
			if cpu != "" {
				m, err := parseCPU(cpu)
				if err != nil {
					return err
				}
				for i := range updates {
					updates[i].CPU = &m
				}
			}
			if withPids {
				if pids < 0 {
					return controller.Errorf(controller.ErrInvalid, "invalid --pids %d: use a number of processes, or 0 for the default", pids)
				}
				for i := range updates {
					updates[i].Pids = &pids
				}
			}
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			ps, err := c.Scale(cmd.Context(), app, updates)
			if err != nil {
				return err
			}
			if !r.json {
				r.printf("Scaled %s\n", app)
			}
			return r.show(ps, formationTable(ps).render)
		},
	}
	scale.Flags().StringVar(&memory, "memory", "", "memory limit of each instance: 512M, 1G...; 0 for the default")
	scale.Flags().StringVar(&cpu, "cpu", "", "CPU limit of each instance in cores: 0.5, 2...; 0 for the default")
	scale.Flags().Int64Var(&pids, "pids", 0, "process (and thread) limit of each instance; 0 for the default")

	root.AddCommand(
		r.jsonFlag(r.appFlag(scale)),
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "ps",
			Aliases: []string{"ps:list"},
			Short:   "Show an app's instances: state, health, release, address, restarts, age",
			GroupID: groupDeploy,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				ins, err := c.Instances(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(ins, instanceTable(ins, time.Now()).render)
			},
		})),
		r.appFlag(r.logsCommand()),
		r.appFlag(r.runCommand()),
		r.jsonFlag(r.appFlag(r.limitsCommand())),
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "healthchecks",
			Short:   "Show an app's health checks",
			GroupID: groupDeploy,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				hs, err := c.HealthChecks(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(hs, healthTable(hs).render)
			},
		})),
		r.appFlag(r.healthSetCommand()),
		r.appFlag(&cobra.Command{
			Use:     "healthchecks:unset TYPE",
			Short:   "Remove a process type's health check (back to the default)",
			GroupID: groupDeploy,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.UnsetHealthCheck(cmd.Context(), app, args[0]); err != nil {
					return err
				}
				r.printf("Removed the health check of %s on %s\n", args[0], app)
				return nil
			},
		}),
		r.appFlag(&cobra.Command{
			Use:     "ps:restart [TYPE]",
			Aliases: []string{"restart"},
			Short:   "Restart an app's instances, all or of one process type, with no downtime",
			GroupID: groupDeploy,
			Args:    nargs(0, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.Restart(cmd.Context(), app, firstOf(args...)); err != nil {
					return err
				}
				what := "all processes"
				if len(args) == 1 {
					what = args[0] + " processes"
				}
				r.printf("Restarting %s of %s... started (paas ps shows the progress)\n", what, app)
				return nil
			},
		}),
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "formation",
			Aliases: []string{"ps:formation"},
			Short:   "Show the formation of an app: its process types, their scale and limits",
			GroupID: groupDeploy,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				ps, err := c.Formation(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(ps, formationTable(ps).render)
			},
		})),
	)
}

func instanceTable(ins []controller.Instance, now time.Time) *table {
	t := newTable("name", "release", "state", "address", "restarts", "age")
	for _, in := range ins {
		t.add(in.Name, version(in.Release), in.State, in.Address, fmt.Sprint(in.Restarts), now.Sub(in.Created).Round(time.Second).String())
	}
	return t
}

// logsCommand is paas logs: the app's merged log lines, and with -f the
// new ones as they come, until Ctrl-C.
func (r *runner) logsCommand() *cobra.Command {
	var o controller.LogOptions
	cmd := &cobra.Command{
		Use:     "logs",
		Short:   "Show an app's logs: its instances' output and platform events (-f to follow)",
		GroupID: groupDeploy,
		Args:    nargs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			return c.Logs(cmd.Context(), app, o, r.env.Stdout)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep showing new lines until interrupted")
	cmd.Flags().IntVarP(&o.Lines, "num", "n", 100, "how many past lines to show")
	cmd.Flags().StringVar(&o.Process, "ps", "", "only this process type or instance: web, web.2")
	return cmd
}

// runCommand is paas run: a one-off process from the current release.
func (r *runner) runCommand() *cobra.Command {
	var detached, tty bool
	cmd := &cobra.Command{
		Use:   "run [--detached | --tty] -- COMMAND...",
		Short: "Run a one-off command in a new instance of the app's current release",
		Long: `Run a one-off command in a new instance of the app's current release.

When standard input is a terminal (or with --tty), the command gets a terminal of
its own over SSH, as git push uses (your SSH key, the app's git host and port);
set PAAS_SSH_COMMAND to change the ssh command, as GIT_SSH_COMMAND does for git.
Otherwise its output comes back over the API, and paas exits with its exit code.

One argument is a shell command line, run with /bin/sh -c ('echo $HOME | wc -c');
several are a command and its arguments, each passed as it is (python3 -c 'print(1)').`,
		GroupID: groupDeploy,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			stdinTTY := false
			if f, ok := r.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				stdinTTY = true
			}
			if !detached && (tty || stdinTTY) {
				return r.runOverSSH(cmd.Context(), c, app, commandLine(args), tty)
			}
			code, err := c.Run(cmd.Context(), app, commandLine(args), detached, r.env.Stdout)
			if err != nil {
				return err
			}
			if detached {
				r.printf("Started a one-off process on %s; its output is in paas logs\n", app)
				return nil
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&detached, "detached", "d", false, "run in the background; the output goes to paas logs")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal even when standard input is not one")
	return cmd
}

// runOverSSH runs an attached one-off over the app's SSH endpoint, with a
// terminal: ssh -t -p PORT -- git@HOST run APP -- COMMAND. ssh runs directly,
// never through a shell.
func (r *runner) runOverSSH(ctx context.Context, c *controller.Client, app, command string, force bool) error {
	info, err := c.App(ctx, app)
	if err != nil {
		return err
	}
	ssh := []string{"ssh"}
	if v := r.env.Getenv("PAAS_SSH_COMMAND"); v != "" {
		ssh = strings.Fields(v)
	}
	argv, err := sshRunArgs(ssh, info.GitURL, app, command, force)
	if err != nil {
		return err
	}
	run := exec.CommandContext(ctx, argv[0], argv[1:]...)
	run.Stdin, run.Stdout, run.Stderr = r.env.Stdin, r.env.Stdout, r.env.Stderr
	if err := run.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitCode(ee.ExitCode())
		}
		return fmt.Errorf("ssh: %w", err)
	}
	return nil
}

var (
	// sshUserPattern is what paas accepts as the user of a server's git
	// URL: a login name, never an option.
	sshUserPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$`)
	// sshHostPattern is a DNS name (labels of letters, digits and
	// hyphens, none starting or ending with a hyphen).
	sshHostPattern = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
)

// sshRunArgs builds the argv of the ssh command that runs an attached
// one-off: ssh [-t|-tt] -o LogLevel=ERROR [-p PORT] -- USER@HOST run APP --
// COMMAND. gitURL comes from the server, which the CLI does not trust with
// its own machine: its user, host and port must be plain names and a
// number, else the run is refused before ssh starts (a user such as
// "-oProxyCommand=..." would otherwise be an option to ssh, which runs it
// locally). "--" ends ssh's options before the destination all the same.
func sshRunArgs(ssh []string, gitURL, app, command string, force bool) ([]string, error) {
	if len(ssh) == 0 {
		return nil, errors.New("PAAS_SSH_COMMAND names no command")
	}
	u, err := url.Parse(gitURL)
	if err != nil || u.Scheme != "ssh" || u.Hostname() == "" || u.Opaque != "" {
		return nil, fmt.Errorf("the server gave no usable SSH address for %s (%q)", app, gitURL)
	}
	host := u.Hostname()
	if !sshHostPattern.MatchString(host) && net.ParseIP(host) == nil {
		return nil, fmt.Errorf("the server's SSH address for %s has an invalid host name %q: refusing to run ssh", app, host)
	}
	userName := "git"
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword || !sshUserPattern.MatchString(u.User.Username()) {
			return nil, fmt.Errorf("the server's SSH address for %s has an invalid user name %q: refusing to run ssh", app, u.User.Username())
		}
		userName = u.User.Username()
	}
	if err := controller.ValidateAppName(app); err != nil {
		return nil, err
	}
	t := "-t"
	if force {
		t = "-tt"
	}
	args := append(slices.Clip(ssh), t, "-o", "LogLevel=ERROR")
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return nil, fmt.Errorf("the server's SSH address for %s has an invalid port %q: refusing to run ssh", app, p)
		}
		args = append(args, "-p", p)
	}
	return append(args, "--", userName+"@"+host, "run", app, "--", command), nil
}

// limitsCommand is paas limits:set web=512M [--cpu 0.5], as Deis has it:
// limits without changing the scale.
func (r *runner) limitsCommand() *cobra.Command {
	var cpu string
	cmd := &cobra.Command{
		Use:     "limits:set TYPE=MEMORY... [--cpu CORES]",
		Short:   "Set the memory (and CPU) limit of process types: web=512M; 0 for the default",
		GroupID: groupDeploy,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ups []controller.ProcessUpdate
			for _, a := range args {
				typ, mem, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("invalid limit %q: use TYPE=MEMORY, e.g. web=512M", a)
				}
				if err := controller.ValidateProcessType(typ); err != nil {
					return err
				}
				m, err := parseMemory(mem)
				if err != nil {
					return err
				}
				u := controller.ProcessUpdate{Type: typ, Memory: &m}
				if cpu != "" {
					c, err := parseCPU(cpu)
					if err != nil {
						return err
					}
					u.CPU = &c
				}
				ups = append(ups, u)
			}
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			ps, err := c.Scale(cmd.Context(), app, ups)
			if err != nil {
				return err
			}
			return r.show(ps, formationTable(ps).render)
		},
	}
	cmd.Flags().StringVar(&cpu, "cpu", "", "CPU limit of each instance in cores: 0.5, 2...; 0 for the default")
	return cmd
}

func healthTable(hs []controller.HealthCheck) *table {
	t := newTable("type", "check", "timeout", "attempts")
	for _, h := range hs {
		check := "TCP connection to $PORT"
		if h.Path != "" {
			check = "GET " + h.Path
		} else if h.Type != "web" {
			check = "keeps running"
		}
		timeout := h.Timeout
		if timeout == 0 {
			timeout = 5 // the server's default per attempt
		}
		attempts := fmt.Sprint(h.Attempts)
		if h.Attempts == 0 {
			attempts = "until the health timeout"
		}
		t.add(h.Type, check, fmt.Sprintf("%ds", timeout), attempts)
	}
	return t
}

// healthSetCommand is paas healthchecks:set web --path /health --timeout 5
// --attempts 10, as Dokku's checks and Deis's healthchecks are.
func (r *runner) healthSetCommand() *cobra.Command {
	var h controller.HealthCheck
	cmd := &cobra.Command{
		Use:     "healthchecks:set TYPE [--path /health] [--timeout SECONDS] [--attempts N]",
		Short:   "Set how new instances of a process type prove they are healthy before they get traffic",
		GroupID: groupDeploy,
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h.Type = args[0]
			if err := controller.ValidateHealthCheck(h); err != nil {
				return err
			}
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.SetHealthCheck(cmd.Context(), app, h); err != nil {
				return err
			}
			r.printf("Set the health check of %s on %s; it applies to instances started from now on\n", h.Type, app)
			return nil
		},
	}
	cmd.Flags().StringVar(&h.Path, "path", "", "HTTP path that must answer 2xx or 3xx (web only); empty for a TCP check")
	cmd.Flags().IntVar(&h.Timeout, "timeout", 5, "seconds each attempt may take")
	cmd.Flags().IntVar(&h.Attempts, "attempts", 0, "failed attempts before the rollout is abandoned; 0 for the server's health timeout")
	return cmd
}

func formationTable(ps []controller.Process) *table {
	t := newTable("type", "quantity", "memory", "cpu", "pids", "command")
	for _, p := range ps {
		pids := "default"
		if p.Pids != 0 {
			pids = fmt.Sprint(p.Pids)
		}
		t.add(p.Type, fmt.Sprint(p.Quantity), formatMemory(p.Memory), formatCPU(p.CPU), pids, p.Command)
	}
	return t
}

func (r *runner) addReleaseCommands(root *cobra.Command) {
	var nr controller.NewRelease
	var processes []string
	create := &cobra.Command{
		Use:     "releases:create --image REF",
		Short:   "Release an existing image with the app's config",
		Example: "  paas releases:create --image registry.example.com/shop:1.2 --process web=\"bin/server\"",
		GroupID: groupDeploy,
		Args:    nargs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nr.Image == "" {
				return fmt.Errorf("usage: %s", cmd.UseLine())
			}
			var err error
			if nr.ProcessTypes, err = parseProcessTypes(processes); err != nil {
				return err
			}
			c, app, err := r.appClient(cmd.Context())
			if err != nil {
				return err
			}
			rel, err := c.CreateRelease(cmd.Context(), app, nr)
			if err != nil {
				return err
			}
			r.printf("Releasing %s to %s... done, %s\n", nr.Image, app, version(rel.Version))
			return nil
		},
	}
	create.Flags().StringVar(&nr.Image, "image", "", "the image reference to release (required)")
	create.Flags().StringVar(&nr.Digest, "digest", "", "the image's sha256:... digest, to pin it")
	create.Flags().StringArrayVar(&processes, "process", nil, "a process type and its command, as web=\"bin/server\"; may be repeated")
	create.Flags().StringVar(&nr.Description, "description", "", "what the release is (default: chosen by the server)")

	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "releases",
			Aliases: []string{"releases:list"},
			Short:   "List the releases of an app, newest first",
			GroupID: groupDeploy,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				rs, err := c.Releases(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(rs, releasesTable(rs).render)
			},
		})),
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "releases:info [vN]",
			Short:   "Show a release (default: the current one) with its config",
			GroupID: groupDeploy,
			Args:    nargs(0, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				v := 0
				if len(args) == 1 {
					var err error
					if v, err = controller.ParseReleaseVersion(args[0]); err != nil {
						return err
					}
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if v == 0 {
					info, err := c.App(cmd.Context(), app)
					if err != nil {
						return err
					}
					if info.Release == 0 {
						return controller.Errorf(controller.ErrNotFound, "%s has no release yet", app)
					}
					v = info.Release
				}
				rel, err := c.Release(cmd.Context(), app, v)
				if err != nil {
					return err
				}
				return r.show(rel, func(w io.Writer, colour bool) error {
					return releaseView(w, colour, app, rel)
				})
			},
		})),
		r.appFlag(&cobra.Command{
			Use:     "rollback [vN]",
			Aliases: []string{"releases:rollback"},
			Short:   "Roll back to an earlier release (default: the one before the current)",
			GroupID: groupDeploy,
			Args:    nargs(0, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				v := 0
				if len(args) == 1 {
					var err error
					if v, err = controller.ParseReleaseVersion(args[0]); err != nil {
						return err
					}
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				rel, err := c.Rollback(cmd.Context(), app, v)
				if err != nil {
					return err
				}
				r.printf("Rolling back %s... done, %s: %s\n", app, version(rel.Version), rel.Description)
				return nil
			},
		}),
		r.appFlag(create),
	)
}

func releasesTable(rs []controller.Release) *table {
	t := newTable("version", "status", "description", "by", "created")
	t.status = 1
	for _, rel := range rs {
		t.add(version(rel.Version), rel.Status, rel.Description, rel.CreatedBy, formatTime(rel.CreatedAt))
	}
	return t
}

// releaseView is what releases:info shows: the release, then its config.
func releaseView(w io.Writer, colour bool, app string, rel controller.Release) error {
	f := &fields{title: fmt.Sprintf("%s Release %s", app, version(rel.Version))}
	f.add("Status", rel.Status)
	if rel.Reason != "" {
		f.add("Reason", rel.Reason)
	}
	f.add("Description", rel.Description)
	f.add("Image", rel.Image)
	if rel.Digest != "" {
		f.add("Digest", rel.Digest)
	}
	if rel.Build != 0 {
		f.add("Build", fmt.Sprint(rel.Build))
	}
	for _, typ := range slices.Sorted(maps.Keys(rel.ProcessTypes)) {
		f.add("Process "+typ, rel.ProcessTypes[typ])
	}
	f.add("By", rel.CreatedBy)
	f.add("Created", formatTime(rel.CreatedAt))
	if err := f.render(w, colour); err != nil {
		return err
	}
	cf := &fields{title: fmt.Sprintf("%s Config Vars %s", app, version(rel.Version))}
	if rel.Config != nil {
		for _, k := range slices.Sorted(maps.Keys(rel.Config)) {
			cf.add(k, rel.Config[k])
		}
	} else { // a server that keeps values to itself still names the vars
		for _, k := range rel.ConfigKeys {
			cf.add(k, "")
		}
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	return cf.render(w, colour)
}
