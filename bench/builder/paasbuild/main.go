// Command paasbuild is the paas side of bench/builder/bench.sh and
// bench/builder/buildpacks.sh: it imports the busybox base image, makes
// the Debian stacks, or builds a directory, through the builder's public
// API on a given containerd, so the benchmarks do not depend on how the
// paas binary wires its commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"paas/builder"
	"paas/builder/testimage"
	"paas/runtime/network"
)

type options struct {
	sock, ns, busybox, dir, app string
	stacks                      string   // stack cache directory: make the stacks and exit
	bridge, subnet, netState    string   // a build network, if bridge is set
	env                         []string // KEY=value, the builder's BuildEnv
	ca                          string
}

func main() {
	var o options
	flag.StringVar(&o.sock, "containerd", "", "containerd socket")
	flag.StringVar(&o.ns, "namespace", "paas-bench", "containerd namespace")
	flag.StringVar(&o.busybox, "import-busybox", "", "import the busybox test image under this name and exit")
	flag.StringVar(&o.stacks, "stacks", "", "make the Debian stacks (cached in this directory) and exit")
	flag.StringVar(&o.dir, "dir", "", "directory to build")
	flag.StringVar(&o.app, "app", "bench", "app name (names the buildpack cache)")
	flag.StringVar(&o.bridge, "bridge", "", "give builds a network on this bridge")
	flag.StringVar(&o.subnet, "subnet", "10.78.252.0/24", "the build network's subnet")
	flag.StringVar(&o.netState, "net-state", "", "the build network's state directory")
	flag.StringVar(&o.ca, "ca", "", "CA bundle buildpack downloads trust")
	flag.Func("env", "KEY=value for buildpacks' bin/build (repeat)", func(s string) error {
		if !strings.Contains(s, "=") {
			return fmt.Errorf("want KEY=value")
		}
		o.env = append(o.env, s)
		return nil
	})
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "paasbuild:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.busybox != "" {
		c, err := containerd.New(o.sock)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = testimage.ImportBusybox(namespaces.WithNamespace(ctx, o.ns), c, o.busybox)
		return err
	}
	opts := builder.Options{Address: o.sock, Namespace: o.ns, CABundle: o.ca,
		Limits: builder.Limits{StepTimeout: 15 * time.Minute}}
	if len(o.env) > 0 {
		opts.BuildEnv = map[string]string{}
		for _, kv := range o.env {
			k, v, _ := strings.Cut(kv, "=")
			opts.BuildEnv[k] = v
		}
	}
	if o.bridge != "" {
		state := o.netState
		if state == "" {
			state = filepath.Join(os.TempDir(), "paasbuild-net-"+o.bridge)
		}
		nw, err := network.New(network.Config{Name: "paas-bench-build", Bridge: o.bridge, Subnet: o.subnet, StateDir: state})
		if err != nil {
			return err
		}
		opts.Network = nw
	}
	b, err := builder.New(opts)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.stacks != "" {
		_, err := b.BuildStacks(ctx, builder.StackOptions{CacheDir: o.stacks, Output: os.Stderr})
		return err
	}
	res, err := b.Build(ctx, builder.Request{App: o.app, Dir: o.dir, Output: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println(res.Digest)
	return nil
}
