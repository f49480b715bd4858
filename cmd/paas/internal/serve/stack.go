package serve

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"paas/builder"
	"paas/runtime/network"
)

// builderFlags are the settings the builder's commands share. Each flag's
// default can come from the environment (PAAS_ and the flag's name).
type builderFlags struct {
	containerd string
	namespace  string
}

func (f *builderFlags) register(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) {
	fs.StringVar(&f.containerd, "containerd", envOr(lookupEnv, "containerd", "/run/containerd/containerd.sock"), "containerd socket")
	fs.StringVar(&f.namespace, "namespace", envOr(lookupEnv, "namespace", "paas"), "containerd namespace")
}

func (f *builderFlags) open(opts builder.Options) (*builder.Builder, error) {
	opts.Address = f.containerd
	opts.Namespace = f.namespace
	return builder.New(opts)
}

// envOr is the value of PAAS_<FLAG> if set, else def.
func envOr(lookupEnv func(string) (string, bool), flag, def string) string {
	if v, ok := lookupEnv(envName(flag)); ok && v != "" {
		return v
	}
	return def
}

// withEnvNames adds each flag's environment variable to its help.
func withEnvNames(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			f.Usage += " [env " + envName(f.Name) + "]"
		}
	})
}

// StackCommand returns "paas stack": build, list and import the base images
// apps are built on and run in. lookupEnv reads the environment
// (os.LookupEnv in main).
func StackCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Build, list and import base images (stacks)",
		Long: `Stacks are the base images apps are built on (paas/stack-build) and run in
(paas/stack-run). "paas stack build" makes them from Debian packages with
debootstrap, using the host's apt mirror unless --mirror says otherwise, and
caches them by recipe: building again without a change does nothing.`,
	}
	cmd.AddCommand(stackBuildCommand(lookupEnv), stackListCommand(lookupEnv), stackImportCommand(lookupEnv))
	return cmd
}

func stackBuildCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	var (
		bf       builderFlags
		mirror   string
		suite    string
		cacheDir string
		only     []string
	)
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Make the run and build stacks with debootstrap (a no-op when they are current)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			b, err := bf.open(builder.Options{})
			if err != nil {
				return err
			}
			defer b.Close()
			start := time.Now()
			stacks, err := b.BuildStacks(cmd.Context(), builder.StackOptions{
				Mirror: mirror, Suite: suite, CacheDir: cacheDir, Only: only, Output: cmd.ErrOrStderr(),
			})
			for _, s := range stacks {
				state := "built"
				if s.Cached {
					state = "up to date"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s (%s)\n", s.Image, state, s.Tagged)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stacks ready in %s\n", time.Since(start).Round(time.Second))
			return nil
		},
	}
	fs := cmd.Flags()
	bf.register(fs, lookupEnv)
	fs.StringVar(&mirror, "mirror", envOr(lookupEnv, "mirror", ""), "Debian mirror URL (default: the host's apt sources)")
	fs.StringVar(&suite, "suite", envOr(lookupEnv, "suite", ""), "Debian release (default: the host's apt sources)")
	fs.StringVar(&cacheDir, "stack-cache", envOr(lookupEnv, "stack-cache", "/var/cache/paas/stacks"), "where stack root filesystems are cached by recipe")
	fs.StringSliceVar(&only, "only", nil, "build only these stacks (run, build)")
	withEnvNames(fs)
	return cmd
}

func stackListCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	var bf builderFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stack images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			b, err := bf.open(builder.Options{})
			if err != nil {
				return err
			}
			defer b.Close()
			stacks, err := b.Stacks(cmd.Context())
			if err != nil {
				return err
			}
			if len(stacks) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no stacks: run \"paas stack build\"")
				return nil
			}
			names := make([]string, 0, len(stacks))
			for n := range stacks {
				names = append(names, n)
			}
			sort.Strings(names)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tRECIPE")
			for _, n := range names {
				r := stacks[n]
				if len(r) > 12 {
					r = r[:12]
				}
				fmt.Fprintf(tw, "%s\t%s\n", n, r)
			}
			return tw.Flush()
		},
	}
	bf.register(cmd.Flags(), lookupEnv)
	withEnvNames(cmd.Flags())
	return cmd
}

func stackImportCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	var (
		bf   builderFlags
		name string
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import images from an OCI archive (e.g. a stack made elsewhere)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			b, err := bf.open(builder.Options{})
			if err != nil {
				return err
			}
			defer b.Close()
			names, err := b.Import(cmd.Context(), f, name)
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", n)
			}
			return nil
		},
	}
	bf.register(cmd.Flags(), lookupEnv)
	cmd.Flags().StringVar(&name, "name", "", "also call the archive's image this, e.g. paas/stack-run")
	return cmd
}

// BuildCommand returns "paas build DIR": build a directory's Dockerfile
// into an image on the local containerd, as a push would, printing the
// build's output. lookupEnv reads the environment (os.LookupEnv in main).
func BuildCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	var (
		bf         builderFlags
		app, tag   string
		dockerfile string
		target     string
		buildArgs  []string
		useNetwork bool
		stateDir   string
		limits     builder.Limits
		memory     int64
	)
	cmd := &cobra.Command{
		Use:   "build DIR",
		Short: "Build a directory's Dockerfile into an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			argMap := map[string]string{}
			for _, a := range buildArgs {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					v, ok = lookupEnv(k) // docker's --build-arg NAME takes it from the environment
					if !ok {
						continue
					}
				}
				argMap[k] = v
			}
			opts := builder.Options{Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
			if useNetwork {
				n, err := network.New(network.Config{Name: "paas-build", Bridge: "paasbuild0", Subnet: "10.78.0.0/16",
					StateDir: filepath.Join(stateDir, "build-network")})
				if err != nil {
					return err
				}
				opts.Network = n
			}
			b, err := bf.open(opts)
			if err != nil {
				return err
			}
			defer b.Close()
			limits.Memory = memory << 20
			start := time.Now()
			res, err := b.Build(cmd.Context(), builder.Request{
				App: app, Tag: tag, Dir: args[0], Dockerfile: dockerfile, Target: target,
				BuildArgs: argMap, Output: cmd.OutOrStdout(), Limits: limits,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built %s (%s) in %s\n", res.Image, res.Digest, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	fs := cmd.Flags()
	bf.register(fs, lookupEnv)
	fs.StringVar(&app, "app", "local", "app the image is named after: paas/<app>:<tag>")
	fs.StringVar(&tag, "tag", "", "image tag (default: the manifest digest's first 12 hex digits)")
	fs.StringVarP(&dockerfile, "file", "f", "Dockerfile", "Dockerfile path in DIR")
	fs.StringVar(&target, "target", "", "stage to build (default: the last)")
	fs.StringArrayVar(&buildArgs, "build-arg", nil, "NAME=value for an ARG (repeatable)")
	fs.BoolVar(&useNetwork, "network", true, "give RUN steps network access through the paasbuild0 bridge (10.78.0.0/16)")
	fs.StringVar(&stateDir, "data-dir", envOr(lookupEnv, "data-dir", "/var/lib/paas"), "directory for the build network's state")
	fs.Int64Var(&memory, "memory", 0, "memory limit per RUN step in MiB (0: none)")
	fs.Float64Var(&limits.CPUs, "cpus", 0, "CPU limit per RUN step in cores (0: none)")
	fs.DurationVar(&limits.StepTimeout, "step-timeout", time.Hour, "wall-clock limit per RUN step")
	fs.DurationVar(&limits.Timeout, "timeout", 0, "wall-clock limit for the whole build (0: none)")
	return cmd
}
