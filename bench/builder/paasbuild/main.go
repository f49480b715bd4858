// Command paasbuild is the paas side of bench/builder/bench.sh: it imports
// the busybox base image, or builds a directory, through the builder's
// public API on a given containerd, so the benchmark does not depend on how
// the paas binary wires its commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"paas/builder"
	"paas/builder/testimage"
)

func main() {
	sock := flag.String("containerd", "", "containerd socket")
	ns := flag.String("namespace", "paas-bench", "containerd namespace")
	busybox := flag.String("import-busybox", "", "import the busybox test image under this name and exit")
	dir := flag.String("dir", "", "directory to build")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *sock, *ns, *busybox, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "paasbuild:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sock, ns, busybox, dir string) error {
	if busybox != "" {
		c, err := containerd.New(sock)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = testimage.ImportBusybox(namespaces.WithNamespace(ctx, ns), c, busybox)
		return err
	}
	b, err := builder.New(builder.Options{Address: sock, Namespace: ns})
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := b.Build(ctx, builder.Request{App: "bench", Dir: dir, Output: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println(res.Digest)
	return nil
}
